//! Times on the command line: `--deadline` and `--at` take an RFC 3339 date-time
//! (`2030-01-02T03:04:05Z`, `2030-01-02T05:04:05+02:00`; fractions of a second are dropped), a
//! duration from now (`+90s`, `+10m`, `+2h`, `+1d`, `+1w`, combined as `+1h30m`; a bare `+600`
//! is seconds), or Unix seconds (`1900000000`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Why a time does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a time: {reason} (use RFC 3339 like 2030-01-02T03:04:05Z, +DURATION like +1h30m, or Unix seconds)"
)]
pub(crate) struct TimeError {
    input: String,
    reason: &'static str,
}

/// The system clock, Unix seconds.
pub(crate) fn now() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("the system clock is before 1970"))?
        .as_secs())
}

/// Parses a time (module documentation) relative to `now`.
pub(crate) fn parse_time(input: &str, now: u64) -> Result<u64, TimeError> {
    let err = |reason| TimeError {
        input: input.chars().take(64).collect(),
        reason,
    };
    let s = input.trim();
    if s.len() > 64 {
        return Err(err("too long"));
    }
    if let Some(d) = s.strip_prefix('+') {
        return parse_duration(d)
            .ok_or(err("bad duration"))
            .and_then(|d| now.checked_add(d).ok_or(err("too far")));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| err("too large"));
    }
    parse_rfc3339(s).ok_or(err("bad date-time"))
}

fn parse_duration(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    number.is_empty().then_some(total)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(s: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| range.contains(n))
}

fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = number(s.get(0..4)?, 1970..=9999)?;
    let month = number(s.get(5..7)?, 1..=12)?;
    let day = number(s.get(8..10)?, 1..=31)?;
    let hour = number(s.get(11..13)?, 0..=23)?;
    let minute = number(s.get(14..16)?, 0..=59)?;
    // 60: a leap second, counted as the next one.
    let second = number(s.get(17..19)?, 0..=60)?;
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h = number(rest.get(1..3)?, 0..=23)?;
            let m = number(rest.get(4..6)?, 0..=59)?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days_in_month {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_unix_seconds() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z", 0), Ok(0));
        assert_eq!(parse_time("2000-03-01T00:00:00Z", 0), Ok(951_868_800));
        assert_eq!(parse_time("2030-01-02T03:04:05Z", 0), Ok(1_893_553_445));
        assert_eq!(
            parse_time("2030-01-02T05:04:05.250+02:00", 0),
            Ok(1_893_553_445)
        );
        assert_eq!(
            parse_time("2030-01-01T22:04:05-05:00", 0),
            Ok(1_893_553_445)
        );
        assert_eq!(parse_time("2024-02-29T00:00:00Z", 0), Ok(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2030-13-01T00:00:00Z",
            "2030-01-01T24:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01T00:00:00+0200",
            "2030-01-01",
            "1969-12-31T23:59:59Z",
            "２０３０-01-01T00:00:00Z",
            "",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_unix_seconds() {
        assert_eq!(parse_time("+90s", 1000), Ok(1090));
        assert_eq!(parse_time("+1h30m", 0), Ok(5400));
        assert_eq!(parse_time("+2d", 0), Ok(172_800));
        assert_eq!(parse_time("+1w", 0), Ok(604_800));
        assert_eq!(parse_time("+600", 5), Ok(605));
        assert_eq!(parse_time("1900000000", 0), Ok(1_900_000_000));
        for bad in ["+", "+1x", "+h", "+1h30", "+99999999999999999999d", "-5m"] {
            assert!(parse_time(bad, 0).is_err(), "{bad}");
        }
        assert!(parse_time(&"9".repeat(100), 0).is_err());
    }
}
