//! PEM reading and writing shared by certificate and key imports.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

/// One `-----BEGIN label-----` ... `-----END label-----` block.
pub(crate) struct Block {
    pub(crate) label: String,
    /// RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` (legacy encrypted keys).
    pub(crate) headers: Vec<String>,
    /// Zeroised on drop: the block may be a private key.
    pub(crate) der: Zeroizing<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PemError {
    /// Nothing but whitespace.
    Empty,
    NoBlock,
    Unterminated {
        number: usize,
        label: String,
    },
    MismatchedEnd {
        number: usize,
        label: String,
        end: String,
    },
    BadBase64 {
        number: usize,
        label: String,
    },
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemError::Empty => f.write_str("the text is empty"),
            PemError::NoBlock => {
                f.write_str("no PEM block found (expected a line like -----BEGIN ...-----)")
            }
            PemError::Unterminated { number, label } => {
                write!(
                    f,
                    "block {number} ({label}) has no matching -----END {label}----- line"
                )
            }
            PemError::MismatchedEnd { number, label, end } => {
                write!(f, "block {number} begins as {label} but ends as {end}")
            }
            PemError::BadBase64 { number, label } => {
                write!(f, "block {number} ({label}) is not valid base64")
            }
        }
    }
}

/// Undoes what JSON clients often do to PEM: newlines sent as a literal backslash-n, and
/// CRLF line endings. Backslashes never occur in PEM, so the replacement is safe.
pub(crate) fn normalise(text: &str) -> Zeroizing<String> {
    Zeroizing::new(
        text.replace("\\r\\n", "\n")
            .replace("\\n", "\n")
            .replace("\r\n", "\n")
            .replace('\r', "\n"),
    )
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";

/// Splits `text` into its PEM blocks. Errors name the block that is wrong; text between blocks
/// (as openssl writes it) is ignored and JSON-escaped newlines are repaired first.
pub(crate) fn blocks(text: &str) -> Result<Vec<Block>, PemError> {
    let text = normalise(text);
    if text.trim().is_empty() {
        return Err(PemError::Empty);
    }
    let mut blocks = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find(BEGIN) {
        let number = blocks.len() + 1;
        let after_begin = &rest[start + BEGIN.len()..];
        let unterminated = |label: &str| PemError::Unterminated {
            number,
            label: label.to_string(),
        };
        let label_end = after_begin
            .find(DASHES)
            .filter(|&end| !after_begin[..end].contains('\n'))
            .ok_or_else(|| unterminated("unlabelled"))?;
        let label = after_begin[..label_end].trim();
        let body_and_rest = &after_begin[label_end + DASHES.len()..];
        let body_end = body_and_rest.find(END).ok_or_else(|| unterminated(label))?;
        let body = &body_and_rest[..body_end];
        if body.contains(BEGIN) {
            return Err(unterminated(label));
        }
        let after_end = &body_and_rest[body_end + END.len()..];
        let end_label_end = after_end
            .find(DASHES)
            .filter(|&end| !after_end[..end].contains('\n'))
            .ok_or_else(|| unterminated(label))?;
        let end_label = after_end[..end_label_end].trim();
        if end_label != label {
            return Err(PemError::MismatchedEnd {
                number,
                label: label.to_string(),
                end: end_label.to_string(),
            });
        }
        rest = &after_end[end_label_end + DASHES.len()..];

        let mut headers = Vec::new();
        let mut base64 = Zeroizing::new(String::with_capacity(body.len()));
        for line in body.lines() {
            // Base64 has no colon, so a line with one is an RFC 1421 header.
            if line.contains(':') {
                headers.push(line.trim().to_string());
            } else {
                base64.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
            }
        }
        let der = BASE64
            .decode(base64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| PemError::BadBase64 {
                number,
                label: label.to_string(),
            })?;
        blocks.push(Block {
            label: label.to_string(),
            headers,
            der,
        });
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlock);
    }
    Ok(blocks)
}

/// PEM with 64-character lines and `\n` endings, as openssl writes it.
pub(crate) fn encode_certificate(der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for chunk in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
