//! The one table from a DNS name's problem to its answer: CSR SANs and custom hostnames are
//! checked by the same rules and differ only in their codes and in how a message names them.

use super::error::{Code, ErrorDetail, code};
use crate::pki::names::SanProblem;

/// The codes one resource answers each name problem with.
pub struct SanCodes {
    pub invalid: Code,
    pub non_ascii: Code,
    pub reserved_tld: Code,
    pub no_public_suffix: Code,
    pub example_domain: Code,
}

pub const CSR_SAN_CODES: SanCodes = SanCodes {
    invalid: code::CSR_SAN_INVALID,
    non_ascii: code::CSR_SAN_NON_ASCII,
    reserved_tld: code::CSR_SAN_RESERVED_TLD,
    no_public_suffix: code::CSR_SAN_NO_PUBLIC_SUFFIX,
    example_domain: code::CSR_SAN_EXAMPLE_DOMAIN,
};

pub const HOSTNAME_CODES: SanCodes = SanCodes {
    invalid: code::HOSTNAME_INVALID,
    non_ascii: code::HOSTNAME_NON_ASCII,
    reserved_tld: code::HOSTNAME_RESERVED_TLD,
    no_public_suffix: code::HOSTNAME_NO_PUBLIC_SUFFIX,
    example_domain: code::HOSTNAME_EXAMPLE_DOMAIN,
};

/// `subject` names the value in the message, e.g. `SAN "a..b" (sans[2])` or `hostname "a..b"`.
pub fn san_error(problem: SanProblem, subject: &str, codes: &SanCodes) -> ErrorDetail {
    match problem {
        SanProblem::Invalid(reason) => ErrorDetail::new(
            codes.invalid,
            format!("{subject} is not a valid DNS name: {reason}."),
        ),
        SanProblem::NonAscii => ErrorDetail::new(
            codes.non_ascii,
            format!(
                "{subject} contains non-ASCII characters; write internationalised names in their xn-- (punycode) form."
            ),
        ),
        SanProblem::ReservedTld(tld) => ErrorDetail::new(
            codes.reserved_tld,
            format!(
                "{subject} is under the reserved top-level domain .{tld}, for which no CA issues certificates."
            ),
        ),
        SanProblem::NoPublicSuffix => ErrorDetail::new(
            codes.no_public_suffix,
            format!(
                "{subject} has no registrable domain under a public suffix (for example it is itself a suffix such as \"co.uk\", or its top-level domain does not exist)."
            ),
        ),
        SanProblem::ExampleDomain(domain) => ErrorDetail::new(
            codes.example_domain,
            format!(
                "{subject} is under {domain}, which is reserved for documentation; strict mode refuses it."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::names::check_san;

    #[test]
    fn each_problem_has_its_resources_code() {
        let cases = [
            ("a..example.com", 1412, 1407),
            ("bücher.example.com", 1413, 1408),
            ("app.localhost", 1414, 1409),
            ("co.uk", 1415, 1410),
        ];
        for (name, csr, hostname) in cases {
            let problem = check_san(name, false).unwrap_err();
            let subject = format!("{name:?}");
            assert_eq!(
                san_error(problem.clone(), &subject, &CSR_SAN_CODES)
                    .code
                    .value,
                csr,
                "{name}"
            );
            let detail = san_error(problem, &subject, &HOSTNAME_CODES);
            assert_eq!(detail.code.value, hostname, "{name}");
            assert!(detail.message.starts_with(&subject), "{}", detail.message);
        }
        let strict = check_san("app.example.com", true).unwrap_err();
        assert_eq!(san_error(strict, "x", &HOSTNAME_CODES).code.value, 1411);
    }
}
