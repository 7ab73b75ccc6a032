//! The naming rules a CSR must satisfy: DNS names for SANs and ISO 3166-1 country codes.

use std::net::IpAddr;

/// Longest SAN accepted: a DNS name is at most 255 octets on the wire (RFC 1035), which is 253
/// characters of text; CAs refuse longer names (Let's Encrypt: "longer than 253 bytes").
pub const MAX_SAN_LEN: usize = 253;
/// RFC 5280 upper bound for a common name.
pub const MAX_COMMON_NAME_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;
const RESERVED_TLDS: [&str; 4] = ["test", "example", "invalid", "localhost"];
const EXAMPLE_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// Why a SAN was refused. Each maps to one Cloudflare error code at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanProblem {
    /// Not a usable DNS name; the text says what is wrong.
    Invalid(String),
    NonAscii,
    ReservedTld(String),
    NoPublicSuffix,
    /// Only raised in strict mode: the IANA example domains cannot get real certificates.
    ExampleDomain(String),
}

/// Checks one SAN. `strict` adds the real API's refusal of the IANA example domains.
pub fn check_san(san: &str, strict: bool) -> Result<(), SanProblem> {
    if !san.is_ascii() {
        return Err(SanProblem::NonAscii);
    }
    if san.is_empty() {
        return Err(SanProblem::Invalid("it is empty".into()));
    }
    if san.len() > MAX_SAN_LEN {
        return Err(SanProblem::Invalid(format!(
            "it is {} characters long; the limit is {MAX_SAN_LEN}",
            san.len()
        )));
    }
    if san.parse::<IpAddr>().is_ok() {
        return Err(SanProblem::Invalid(
            "IP addresses are not accepted; use a DNS name".into(),
        ));
    }
    let name = san.strip_prefix("*.").unwrap_or(san);
    for label in name.split('.') {
        check_label(label)?;
    }
    let lower = name.to_ascii_lowercase();
    let tld = lower.rsplit('.').next().unwrap_or_default();
    if RESERVED_TLDS.contains(&tld) {
        return Err(SanProblem::ReservedTld(tld.to_string()));
    }
    let registrable = match psl::domain(lower.as_bytes()) {
        Some(domain) if domain.suffix().is_known() => domain,
        _ => return Err(SanProblem::NoPublicSuffix),
    };
    if strict {
        let registrable = String::from_utf8_lossy(registrable.as_bytes());
        if EXAMPLE_DOMAINS.contains(&registrable.as_ref()) {
            return Err(SanProblem::ExampleDomain(registrable.into_owned()));
        }
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), SanProblem> {
    if label.is_empty() {
        return Err(SanProblem::Invalid(
            "it has an empty label (a leading, trailing or doubled dot)".into(),
        ));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(SanProblem::Invalid(format!(
            "the label '{label}' is longer than {MAX_LABEL_LEN} characters"
        )));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        let hint = if bad == '*' {
            " (a wildcard is only allowed as the whole first label, as in '*.example.com')"
        } else {
            ""
        };
        return Err(SanProblem::Invalid(format!(
            "the character '{}' is not allowed in a DNS name{hint}",
            bad.escape_default()
        )));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(SanProblem::Invalid(format!(
            "the label '{label}' starts or ends with '-'"
        )));
    }
    Ok(())
}

/// ISO 3166-1 alpha-2 codes currently assigned.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT \
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG \
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// True for an assigned ISO 3166-1 alpha-2 code, written in capitals as certificates carry it.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(san: &str) -> SanProblem {
        check_san(san, false).expect_err(san)
    }

    #[test]
    fn accepts_ordinary_and_wildcard_names() {
        for san in [
            "app.example.com",
            "example.com",
            "*.example.com",
            "a-b.c0.co.uk",
            "WWW.Example.ORG",
        ] {
            assert_eq!(check_san(san, false), Ok(()), "{san}");
        }
    }

    #[test]
    fn rejects_malformed_names_as_invalid() {
        for san in [
            "",
            "10.0.0.1",
            "::1",
            "-app.example.com",
            "app-.example.com",
            "app..example.com",
            ".example.com",
            "example.com.",
            "app_1.example.com",
            "a b.example.com",
            "*.*.example.com",
            "app.*.example.com",
            "*example.com",
        ] {
            assert!(
                matches!(problem(san), SanProblem::Invalid(_)),
                "{san}: {:?}",
                problem(san)
            );
        }
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(long.len() > 255);
        assert!(matches!(problem(&long), SanProblem::Invalid(_)));
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(problem(&long_label), SanProblem::Invalid(_)));
    }

    /// The fuzz invariant of fuzz/fuzz_targets/csr_fields.rs: 254- and 255-character names were
    /// accepted, though no CA issues for a name that long.
    #[test]
    fn names_longer_than_253_characters_are_invalid() {
        let labels = ["a".repeat(63), "b".repeat(63), "c".repeat(63)].join(".");
        let longest = format!("{labels}.{}.com", "d".repeat(57));
        assert_eq!(longest.len(), 253);
        assert_eq!(check_san(&longest, false), Ok(()));
        for extra in ["d", "dd"] {
            let san = format!("{labels}.{}{extra}.com", "d".repeat(57));
            assert!(
                matches!(problem(&san), SanProblem::Invalid(ref why) if why.contains("253")),
                "{} characters: {:?}",
                san.len(),
                problem(&san)
            );
        }
        let wildcard = format!(
            "*.{}.{}.com",
            "a".repeat(63),
            ["b".repeat(63), "c".repeat(63), "d".repeat(57)].join(".")
        );
        assert_eq!(wildcard.len(), 255);
        assert!(matches!(problem(&wildcard), SanProblem::Invalid(_)));
    }

    #[test]
    fn classifies_non_ascii_reserved_and_unknown_suffixes() {
        assert_eq!(problem("bücher.de"), SanProblem::NonAscii);
        assert_eq!(problem("app.test"), SanProblem::ReservedTld("test".into()));
        assert_eq!(
            problem("a.b.LOCALHOST"),
            SanProblem::ReservedTld("localhost".into())
        );
        assert_eq!(
            problem("www.example"),
            SanProblem::ReservedTld("example".into())
        );
        assert_eq!(problem("com"), SanProblem::NoPublicSuffix);
        assert_eq!(problem("co.uk"), SanProblem::NoPublicSuffix);
        assert_eq!(problem("app.notarealtld"), SanProblem::NoPublicSuffix);
    }

    #[test]
    fn example_domains_only_fail_in_strict_mode() {
        for san in ["example.com", "app.example.net", "*.example.org"] {
            assert_eq!(check_san(san, false), Ok(()));
            assert!(matches!(
                check_san(san, true),
                Err(SanProblem::ExampleDomain(_))
            ));
        }
        assert_eq!(check_san("example.co.uk", true), Ok(()));
        assert_eq!(check_san("notexample.com", true), Ok(()));
    }

    #[test]
    fn country_codes_must_be_assigned_capitals() {
        assert!(is_country_code("US"));
        assert!(is_country_code("GB"));
        assert!(!is_country_code("us"));
        assert!(!is_country_code("UK"));
        assert!(!is_country_code("USA"));
        assert!(!is_country_code("ZZ"));
    }
}
