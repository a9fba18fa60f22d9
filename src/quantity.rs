//! Kubernetes resource quantities (`100m`, `0.1`, `20Mi`, `1e3`), compared as
//! numbers rather than strings.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::phrasebook::quoted;

/// A quantity held in nano-units, so every suffix down to `n` is exact and
/// `Ei` (2^60) still fits comfortably in an `i128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity {
    nanos: i128,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("empty quantity")]
    Empty,
    #[error("{} is not a Kubernetes quantity (a number with an optional suffix such as m, Mi, Gi, k, M)", quoted(.0))]
    Malformed(String),
    #[error("{} is out of range", quoted(.0))]
    OutOfRange(String),
    #[error("{} is negative", quoted(.0))]
    Negative(String),
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    pub fn from_nanos(nanos: i128) -> Self {
        Self { nanos }
    }

    /// `n` bytes (or cores) as a quantity.
    pub fn from_units(units: i128) -> Self {
        Self {
            nanos: units.saturating_mul(NANOS_PER_UNIT),
        }
    }

    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// Parses a quantity as Kubernetes writes them; negative values are
    /// refused because nothing this policy reads can be negative.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let malformed = || QuantityError::Malformed(text.to_string());
        let (negative, unsigned) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return Err(malformed());
        }
        let multiplier = Multiplier::parse(suffix).ok_or_else(malformed)?;
        let out_of_range = || QuantityError::OutOfRange(text.to_string());

        // mantissa = whole.fraction as an integer scaled by 10^len(fraction)
        let digits = format!("{whole}{fraction}");
        if digits.len() > 30 {
            return Err(out_of_range());
        }
        let mantissa: i128 = digits.parse().map_err(|_| malformed())?;
        let scale_down = fraction.len() as i32;
        let nanos = multiplier
            .apply(mantissa, scale_down)
            .ok_or_else(out_of_range)?;
        if negative && nanos != 0 {
            return Err(QuantityError::Negative(text.to_string()));
        }
        Ok(Self { nanos })
    }

    /// `self * factor`, saturating: used to size memory per meshed pod.
    pub fn times(self, factor: u64) -> Self {
        Self {
            nanos: self.nanos.saturating_mul(i128::from(factor)),
        }
    }
}

/// What a suffix multiplies by: a power of two or of ten.
enum Multiplier {
    Binary(u32),
    Decimal(i32),
}

impl Multiplier {
    fn parse(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "" => Self::Decimal(0),
            "n" => Self::Decimal(-9),
            "u" => Self::Decimal(-6),
            "m" => Self::Decimal(-3),
            "k" => Self::Decimal(3),
            "M" => Self::Decimal(6),
            "G" => Self::Decimal(9),
            "T" => Self::Decimal(12),
            "P" => Self::Decimal(15),
            "E" => Self::Decimal(18),
            "Ki" => Self::Binary(10),
            "Mi" => Self::Binary(20),
            "Gi" => Self::Binary(30),
            "Ti" => Self::Binary(40),
            "Pi" => Self::Binary(50),
            "Ei" => Self::Binary(60),
            exponent => {
                let digits = exponent
                    .strip_prefix('e')
                    .or_else(|| exponent.strip_prefix('E'))?;
                let value: i32 = digits.parse().ok()?;
                if !(-30..=30).contains(&value) {
                    return None;
                }
                Self::Decimal(value)
            }
        })
    }

    /// `mantissa * 10^-scale_down * self`, in nano-units, rounded up as
    /// Kubernetes does for sub-nano precision.
    fn apply(&self, mantissa: i128, scale_down: i32) -> Option<i128> {
        let (numerator, decimal_exponent) = match self {
            Self::Binary(bits) => (mantissa.checked_mul(1i128.checked_shl(*bits)?)?, 0),
            Self::Decimal(exp) => (mantissa, *exp),
        };
        // nano-units: add 9 to the decimal exponent
        let exponent = decimal_exponent + 9 - scale_down;
        if exponent >= 0 {
            numerator.checked_mul(10i128.checked_pow(exponent as u32)?)
        } else {
            let divisor = 10i128.checked_pow(exponent.unsigned_abs())?;
            Some((numerator + divisor - 1) / divisor)
        }
    }
}

impl fmt::Display for Quantity {
    /// Writes the value with the largest suffix that keeps it whole, the way
    /// a person would (`100m`, `20Mi`, `500M`, `1`): binary suffixes first,
    /// as memory is usually written, then decimal ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.nanos;
        if nanos != 0 && nanos % NANOS_PER_UNIT == 0 {
            let units = nanos / NANOS_PER_UNIT;
            for (suffix, bits) in [
                ("Ei", 60),
                ("Pi", 50),
                ("Ti", 40),
                ("Gi", 30),
                ("Mi", 20),
                ("Ki", 10),
            ] {
                if units % (1i128 << bits) == 0 {
                    return write!(f, "{}{suffix}", units >> bits);
                }
            }
            for (suffix, power) in [
                ("E", 18),
                ("P", 15),
                ("T", 12),
                ("G", 9),
                ("M", 6),
                ("k", 3),
            ] {
                let unit = 10i128.pow(power);
                if units % unit == 0 {
                    return write!(f, "{}{suffix}", units / unit);
                }
            }
            return write!(f, "{units}");
        }
        if nanos % 1_000_000 == 0 {
            return write!(f, "{}m", nanos / 1_000_000);
        }
        write!(f, "{nanos}n")
    }
}

/// A quantity as it appears in an object: Kubernetes sends strings, but YAML
/// written by hand (`cpu: 1`) arrives as a number.
#[derive(Debug, Clone, PartialEq)]
pub struct RawQuantity(pub String);

impl RawQuantity {
    pub fn parse(&self) -> Result<Quantity, QuantityError> {
        Quantity::parse(&self.0)
    }

    /// The value as the user wrote it, for messages.
    pub fn as_written(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RawQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How one resource's request of one container measures up to a floor, once
/// the API server has defaulted it: a container with a limit and no request
/// gets a request equal to its limit.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestCheck<'a> {
    /// The request, written or defaulted from the limit, reaches the floor.
    Meets,
    /// Neither a request nor a limit: writing the floor in is safe.
    Missing,
    /// A written request below the floor; `limit` when the limit is below
    /// the floor too, so raising the request alone would not do.
    Below {
        request: &'a RawQuantity,
        limit: Option<&'a RawQuantity>,
    },
    /// No request, and the limit it defaults to is below the floor. No
    /// request may exceed its limit, so nothing can be filled in.
    LimitBelow { limit: &'a RawQuantity },
    /// The request (or, with none, the limit) is not a quantity.
    Unreadable {
        field: QuantityField,
        value: &'a RawQuantity,
    },
}

/// Which of a container's values a check read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityField {
    Request,
    Limit,
}

impl QuantityField {
    pub fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Limit => "limit",
        }
    }
}

/// Judges one resource's `request` and `limit` (as written) against `floor`.
pub fn check_request<'a>(
    request: Option<&'a RawQuantity>,
    limit: Option<&'a RawQuantity>,
    floor: Quantity,
) -> RequestCheck<'a> {
    let limit_below = |limit: &RawQuantity| limit.parse().is_ok_and(|l| l < floor);
    match (request, limit) {
        (Some(request), _) => match request.parse() {
            Err(_) => RequestCheck::Unreadable {
                field: QuantityField::Request,
                value: request,
            },
            Ok(quantity) if quantity >= floor => RequestCheck::Meets,
            Ok(_) => RequestCheck::Below {
                request,
                limit: limit.filter(|limit| limit_below(limit)),
            },
        },
        (None, Some(limit)) => match limit.parse() {
            Err(_) => RequestCheck::Unreadable {
                field: QuantityField::Limit,
                value: limit,
            },
            Ok(quantity) if quantity >= floor => RequestCheck::Meets,
            Ok(_) => RequestCheck::LimitBelow { limit },
        },
        (None, None) => RequestCheck::Missing,
    }
}

impl<'de> Deserialize<'de> for RawQuantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// A string, or a number as JSON writes it.
        struct Form;
        impl serde::de::Visitor<'_> for Form {
            type Value = RawQuantity;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a quantity (a string or a number)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawQuantity, E> {
                Ok(RawQuantity(text.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(number.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(number.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<RawQuantity, E> {
                // Written as serde_json writes numbers (ryu), never through
                // core's float formatting (~14 KB of the module). JSON has
                // no NaN or infinity, so the fallback never shows.
                Ok(RawQuantity(
                    serde_json::Number::from_f64(number).map_or_else(
                        || "a number that is not finite".to_string(),
                        |n| n.to_string(),
                    ),
                ))
            }
        }
        deserializer.deserialize_any(Form)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawQuantity::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::millicores_equal_decimal("100m", "0.1")]
    #[case::whole_core("1", "1000m")]
    #[case::binary_memory("1Mi", "1048576")]
    #[case::gibibyte_as_mebibytes("1Gi", "1024Mi")]
    #[case::exponent("1e3", "1k")]
    #[case::fraction_of_binary("0.5Gi", "512Mi")]
    #[case::plus_sign("+2", "2")]
    fn equal_quantities(#[case] left: &str, #[case] right: &str) {
        assert_eq!(Quantity::parse(left), Quantity::parse(right));
    }

    #[rstest]
    #[case::gi_over_mi("1Gi", "500Mi")]
    #[case::cores_over_millicores("1", "999m")]
    #[case::decimal_mega_over_mebi("2M", "1Mi")]
    fn ordered_quantities(#[case] larger: &str, #[case] smaller: &str) {
        assert!(Quantity::parse(larger).unwrap() > Quantity::parse(smaller).unwrap());
    }

    #[rstest]
    #[case::empty("")]
    #[case::words("lots")]
    #[case::unknown_suffix("10Xi")]
    #[case::two_dots("1.2.3")]
    #[case::lone_dot(".")]
    #[case::negative("-1")]
    #[case::suffix_only("Mi")]
    #[case::huge_exponent("1e400")]
    #[case::too_many_digits("1234567890123456789012345678901234567890")]
    fn rejected_quantities(#[case] text: &str) {
        assert!(Quantity::parse(text).is_err(), "{text} should not parse");
    }

    #[rstest]
    #[case::millicores("100m", "100m")]
    #[case::mebibytes("20Mi", "20Mi")]
    #[case::cores("2", "2")]
    #[case::decimal_megabytes("5M", "5M")]
    #[case::decimal_as_written("500M", "500M")]
    #[case::gibibytes("2Gi", "2Gi")]
    #[case::kilo("1500", "1500")]
    #[case::fraction_of_a_core("0.25", "250m")]
    fn displays_readably(#[case] text: &str, #[case] shown: &str) {
        assert_eq!(Quantity::parse(text).unwrap().to_string(), shown);
    }

    fn raw(text: &str) -> RawQuantity {
        RawQuantity(text.to_string())
    }

    #[rstest]
    #[case::request_meets(Some("100m"), None, RequestCheck::Meets)]
    #[case::request_meets_whatever_the_limit(Some("200m"), Some("50m"), RequestCheck::Meets)]
    #[case::limit_only_defaults_the_request(None, Some("1"), RequestCheck::Meets)]
    #[case::limit_only_equal_to_floor(None, Some("0.1"), RequestCheck::Meets)]
    #[case::nothing(None, None, RequestCheck::Missing)]
    #[case::request_below(Some("50m"), Some("1"), RequestCheck::Below { request: &raw("50m"), limit: None })]
    #[case::request_and_limit_below(Some("50m"), Some("80m"), RequestCheck::Below { request: &raw("50m"), limit: Some(&raw("80m")) })]
    #[case::limit_only_below(None, Some("50m"), RequestCheck::LimitBelow { limit: &raw("50m") })]
    #[case::unreadable_request(Some("fast"), Some("1"), RequestCheck::Unreadable { field: QuantityField::Request, value: &raw("fast") })]
    #[case::unreadable_limit(None, Some("lots"), RequestCheck::Unreadable { field: QuantityField::Limit, value: &raw("lots") })]
    fn requests_are_judged_as_defaulted(
        #[case] request: Option<&str>,
        #[case] limit: Option<&str>,
        #[case] expected: RequestCheck<'_>,
    ) {
        let (request, limit) = (request.map(raw), limit.map(raw));
        let floor = Quantity::parse("100m").unwrap();
        assert_eq!(
            check_request(request.as_ref(), limit.as_ref(), floor),
            expected
        );
    }

    #[test]
    fn numbers_from_yaml_are_quantities() {
        let quantity: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(quantity, Quantity::parse("2").unwrap());
    }
}
