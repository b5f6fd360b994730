//! Amounts typed by a person on the command line are yuan (`scanpay charge 12.50`,
//! `scanpay settle 100`); inside scanpay and in JSON they are integer fen. This is the one
//! place that reads them, so every command refuses the same mistakes with the same words.

use crate::protocol::{Fen, MoneyError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{0}; type the amount in yuan, e.g. 12.50")]
    NotYuan(MoneyError),
    #[error("amount {0:?} is zero; type an amount above 0 in yuan, e.g. 12.50")]
    Zero(String),
}

/// `12.50` → `Fen(1250)`. Refuses zero, signs, exponents and more than two decimals.
/// Usable directly as a clap `value_parser`.
pub fn parse_yuan_amount(text: &str) -> Result<Fen, AmountError> {
    let fen = Fen::parse_yuan(text).map_err(AmountError::NotYuan)?;
    if fen.0 == 0 {
        return Err(AmountError::Zero(text.to_string()));
    }
    Ok(fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yuan_exactly() {
        assert_eq!(parse_yuan_amount("12.50"), Ok(Fen(1250)));
        assert_eq!(parse_yuan_amount("100"), Ok(Fen(10000)));
        assert_eq!(parse_yuan_amount("0.01"), Ok(Fen(1)));
    }

    #[test]
    fn refuses_with_a_message_that_says_what_to_type() {
        assert_eq!(
            parse_yuan_amount("12.345").unwrap_err().to_string(),
            "invalid amount \"12.345\": expected at most 2 decimal places; type the amount in yuan, e.g. 12.50"
        );
        assert_eq!(
            parse_yuan_amount("0.00").unwrap_err().to_string(),
            "amount \"0.00\" is zero; type an amount above 0 in yuan, e.g. 12.50"
        );
        for bad in ["-1", "1e3", "", "¥5", "1,000"] {
            assert!(
                matches!(parse_yuan_amount(bad), Err(AmountError::NotYuan(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn works_as_a_clap_value_parser() {
        #[derive(clap::Parser, Debug)]
        struct Args {
            #[arg(value_parser = parse_yuan_amount)]
            amount: Fen,
        }
        use clap::Parser;
        assert_eq!(
            Args::try_parse_from(["x", "12.5"]).unwrap().amount,
            Fen(1250)
        );
        let err = Args::try_parse_from(["x", "12.345"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("type the amount in yuan"), "{err}");
    }
}
