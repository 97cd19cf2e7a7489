//! Flag values checked where they are parsed, with the same wording in every
//! binary (clap calls these as value parsers and prefixes the flag's name).

/// A count that must be at least 1: threads, batch sizes, top-k, limits.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".into()),
    }
}

/// A rate or scale that must be a finite number above 0.
pub fn positive_number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("must be a finite number above 0".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_rates_are_checked() {
        assert_eq!(at_least_one("3"), Ok(3));
        for bad in ["0", "-1", "1.5", "", "x"] {
            assert!(at_least_one(bad).is_err(), "{bad}");
        }
        assert_eq!(positive_number("0.1"), Ok(0.1));
        for bad in ["0", "-0.1", "nan", "NaN", "inf", "x"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
    }
}
