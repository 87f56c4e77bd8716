//! Randomness from the operating system, for ids, secrets, nonces and retry jitter.

/// Fills `bytes` from the operating system's random source.
pub fn fill(bytes: &mut [u8]) {
    // Without a random source nothing secret can be made; no caller could go on.
    getrandom::fill(bytes).expect("the operating system's random source is unavailable");
}

/// A uniformly drawn fraction in [0, 1), to 1/65536.
pub fn fraction() -> f64 {
    let mut bytes = [0u8; 2];
    fill(&mut bytes);
    f64::from(u16::from_le_bytes(bytes)) / 65_536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_stays_in_the_unit_interval_and_varies() {
        let drawn: Vec<f64> = (0..1000).map(|_| fraction()).collect();
        assert!(drawn.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(drawn.iter().any(|f| *f != drawn[0]), "1000 equal draws");
    }

    #[test]
    fn filled_bytes_differ_from_one_draw_to_the_next() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill(&mut a);
        fill(&mut b);
        assert_ne!(a, b);
    }
}
