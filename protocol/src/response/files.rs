//! FILES (9): the answer to DUMP.

use super::body::{Body, ResponseContext};
use crate::codes::ResponseType;
use crate::error::{DecodeError, EncodeError};
use crate::frame::{Header, WORD};
use crate::wire::{self, BodyWriter, fail};

/// One file of a dump.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct File {
    /// File name (`<db>` or `<db>-wal`).
    pub name: String,
    /// File content.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("size", &self.data.len())
            .finish()
    }
}

/// FILES (9): database files. Each file's bytes follow its size word with
/// no padding, so every size must be a multiple of 8 (database pages and WAL
/// frames always are); the encoder refuses others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Files {
    /// The files, main database first, then its WAL.
    pub files: Vec<File>,
}

impl Body for Files {
    const TYPE: ResponseType = ResponseType::Files;

    fn encode_body(&self, w: &mut BodyWriter<'_>) -> Result<(), EncodeError> {
        if let Some(file) = self.files.iter().find(|f| f.data.len() % WORD != 0) {
            return Err(EncodeError::UnalignedFile {
                name: file.name.clone(),
                size: file.data.len(),
            });
        }
        w.u64(wire::len_u64(self.files.len()));
        for file in &self.files {
            w.text(file.name.as_bytes())?;
            w.u64(wire::len_u64(file.data.len()));
            w.raw(&file.data);
        }
        Ok(())
    }

    fn decode_body(
        _header: Header,
        body: &[u8],
        _ctx: &ResponseContext,
    ) -> Result<Self, DecodeError> {
        wire::run(body, |i| {
            let (mut i, count) = wire::u64_(i)?;
            // Each file takes at least a name word and a size word.
            let count = match wire::bounded_count(count, i, 16) {
                Ok(n) => n,
                Err(e) => return fail(e),
            };
            let mut files = Vec::with_capacity(count);
            for _ in 0..count {
                let (rest, name) = wire::string(i)?;
                let (rest, size) = wire::u64_(rest)?;
                let size = match usize::try_from(size) {
                    Ok(size) if size <= rest.len() => size,
                    _ => return fail(DecodeError::Truncated),
                };
                let (data, rest) = rest.split_at(size);
                files.push(File {
                    name,
                    data: data.to_vec(),
                });
                i = rest;
            }
            Ok((i, Self { files }))
        })
    }
}
