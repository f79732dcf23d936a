//! `RowsReader`: streaming over an arbitrary ROWS body ends (with a marker
//! or an error) and never yields a row of the wrong width.
#![no_main]

use dqlite_protocol::response::RowsReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = RowsReader::new(data) else {
        return;
    };
    let width = reader.columns().len();
    let mut rows = 0usize;
    let mut row = Vec::new();
    while let Ok(true) = reader.next_into(&mut row) {
        assert_eq!(row.len(), width);
        rows += 1;
        // Every row takes at least one header word.
        assert!(rows * 8 <= data.len());
    }
});
