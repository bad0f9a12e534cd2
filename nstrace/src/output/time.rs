//! Wall-clock rendering of event timestamps, without a date crate.

/// Splits nanoseconds since the Unix epoch into UTC (year, month, day, hh, mm, ss, nanos).
pub fn civil(ns: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod / 60 % 60, sod % 60, nanos)
}

/// "HH:MM:SS.uuuuuu" (UTC) for the text format.
pub fn clock(wall_ns: i64) -> String {
    let (_, _, _, h, m, s, n) = civil(wall_ns);
    format!("{h:02}:{m:02}:{s:02}.{:06}", n / 1000)
}

/// RFC 3339 UTC with nanoseconds for JSON.
pub fn rfc3339(wall_ns: i64) -> String {
    let (y, mo, d, h, m, s, n) = civil(wall_ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29T12:34:56.789Z, a leap day.
        assert_eq!(
            rfc3339(951_827_696_789_000_000),
            "2000-02-29T12:34:56.789000000Z"
        );
        assert_eq!(clock(951_827_696_789_123_000), "12:34:56.789123");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
