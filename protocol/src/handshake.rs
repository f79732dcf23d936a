//! The protocol version word a client sends first on every connection.

use crate::error::DecodeError;

/// Value of the version word of the current protocol.
pub const VERSION_1: u64 = 1;

/// Value of the version word of the pre-1.0 protocol.
pub const VERSION_LEGACY: u64 = 0x8610_4dd7_6043_3fe5;

/// Which protocol a connection speaks, as chosen by the client's first word.
///
/// The server sends nothing back for the handshake. The legacy version
/// changes exactly one thing: the body of the LEADER answer
/// ([`ServerLegacy`](crate::response::ServerLegacy)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// Protocol version 1, spoken by every modern client.
    #[default]
    V1,
    /// The pre-1.0 protocol.
    Legacy,
}

impl ProtocolVersion {
    /// The version word as it appears on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        self.word().to_le_bytes()
    }

    /// The version word as an integer.
    pub fn word(self) -> u64 {
        match self {
            Self::V1 => VERSION_1,
            Self::Legacy => VERSION_LEGACY,
        }
    }

    /// Recognises a version word.
    pub fn from_word(word: u64) -> Result<Self, DecodeError> {
        match word {
            VERSION_1 => Ok(Self::V1),
            VERSION_LEGACY => Ok(Self::Legacy),
            other => Err(DecodeError::UnknownVersion(other)),
        }
    }

    /// Reads the version word at the start of `buf`: `Ok(None)` if fewer
    /// than 8 bytes are there yet.
    pub fn decode(buf: &[u8]) -> Result<Option<Self>, DecodeError> {
        buf.first_chunk::<8>()
            .map(|word| Self::from_word(u64::from_le_bytes(*word)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            ProtocolVersion::decode(&hex_bytes("0100000000000000")),
            Ok(Some(ProtocolVersion::V1))
        );
        assert_eq!(
            ProtocolVersion::decode(&hex_bytes("e53f4360d74d1086")),
            Ok(Some(ProtocolVersion::Legacy))
        );
        assert_eq!(ProtocolVersion::decode(&[1, 0, 0]), Ok(None));
        // Big-endian 1, 0 and 2 are refused.
        for word in ["0000000000000001", "0000000000000000", "0200000000000000"] {
            assert!(matches!(
                ProtocolVersion::decode(&hex_bytes(word)),
                Err(DecodeError::UnknownVersion(_))
            ));
        }
        assert_eq!(
            ProtocolVersion::Legacy.to_bytes().to_vec(),
            hex_bytes("e53f4360d74d1086")
        );
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
