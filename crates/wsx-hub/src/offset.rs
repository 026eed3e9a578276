//! Positions in a channel's history.
//!
//! An offset is an epoch and a sequence number. The epoch names one life of a channel's
//! history (the memory broker draws a new one at every start), so an offset handed back
//! from an earlier life is recognised and answered with a `gap` instead of being
//! misread. Within an epoch, sequence numbers count the channel's messages from 1; an
//! offset with sequence `n` means "after the n-th message", so `n = 0` is the start.
//!
//! On the wire an offset is the opaque, URL-safe string `EPOCH-SEQ` (the epoch in base
//! 36): clients never compare offsets, they only hand them back as `since`.

use std::fmt;
use std::str::FromStr;

/// One life of a channel's history.
///
/// ```
/// let e = wsx_hub::Epoch::random();
/// assert_ne!(e, wsx_hub::Epoch::random());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(pub u64);

impl Epoch {
    /// A fresh epoch from the operating system's randomness.
    pub fn random() -> Epoch {
        // Never 0, so that a zeroed value is never mistaken for a real epoch.
        Epoch(rand::random::<u64>() | 1)
    }
}

/// A position in a channel's history: everything up to and including message `seq` of
/// `epoch`.
///
/// ```
/// use wsx_hub::{Epoch, Offset};
/// let o = Offset { epoch: Epoch(42), seq: 7 };
/// assert_eq!(o.to_string(), "16-7");
/// assert_eq!("16-7".parse::<Offset>().unwrap(), o);
/// assert!("16-x".parse::<Offset>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset {
    /// The history's life this offset belongs to.
    pub epoch: Epoch,
    /// Messages up to and including this one (0: none).
    pub seq: u64,
}

impl Offset {
    /// The position before the first message of `epoch`.
    ///
    /// ```
    /// use wsx_hub::{Epoch, Offset};
    /// assert_eq!(Offset::start(Epoch(1)).seq, 0);
    /// ```
    pub fn start(epoch: Epoch) -> Offset {
        Offset { epoch, seq: 0 }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_base36(f, self.epoch.0)?;
        write!(f, "-{}", self.seq)
    }
}

fn write_base36(f: &mut fmt::Formatter<'_>, mut n: u64) -> fmt::Result {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [0u8; 13];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    f.write_str(std::str::from_utf8(&buf[i..]).expect("ASCII digits"))
}

/// An offset string that is not one of ours.
///
/// ```
/// assert!("not an offset".parse::<wsx_hub::Offset>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an offset: expected EPOCH-SEQ")]
pub struct BadOffset;

impl FromStr for Offset {
    type Err = BadOffset;

    fn from_str(s: &str) -> Result<Offset, BadOffset> {
        let (epoch, seq) = s.split_once('-').ok_or(BadOffset)?;
        if epoch.is_empty() || epoch.len() > 13 || seq.is_empty() || seq.len() > 20 {
            return Err(BadOffset);
        }
        // `from_str_radix` would take a leading sign.
        if !epoch
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        {
            return Err(BadOffset);
        }
        let epoch = u64::from_str_radix(epoch, 36).map_err(|_| BadOffset)?;
        if !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadOffset);
        }
        let seq = seq.parse().map_err(|_| BadOffset)?;
        Ok(Offset {
            epoch: Epoch(epoch),
            seq,
        })
    }
}

impl serde::Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(epoch in any::<u64>(), seq in any::<u64>()) {
            let o = Offset { epoch: Epoch(epoch), seq };
            let s = o.to_string();
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            prop_assert_eq!(s.parse::<Offset>(), Ok(o));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = s.parse::<Offset>();
        }
    }

    #[test]
    fn rejects_lookalikes() {
        for bad in [
            "",
            "-",
            "a-",
            "-1",
            "+a-1",
            "A-1",
            "a-+1",
            "a--1",
            "a-1-2",
            "zzzzzzzzzzzzzz-1",
            "a- 1",
            "a-1 ",
        ] {
            assert!(bad.parse::<Offset>().is_err(), "{bad:?}");
        }
    }
}
