//! A seeded generator of the benchmark's workbook: `rows` rows of ten
//! columns (integers, text, floats, booleans, dates and date-times), the
//! same bytes for the same seed.
#![warn(missing_docs)]

use std::path::Path;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

/// The header of the generated sheet.
pub const COLUMNS: [&str; 10] = [
    "id", "name", "email", "amount", "quantity", "active", "created", "updated", "category", "note",
];

/// The generated sheet's name.
pub const SHEET: &str = "Data";

/// A small, seeded pseudo-random generator (SplitMix64): no dependency,
/// the same sequence on every platform.
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];

/// Writes the workbook: a header and `rows` rows. Text goes to the shared
/// string table, as Excel and LibreOffice write it (rust_xlsxwriter's
/// constant-memory mode would write it inline instead).
pub fn generate(path: &Path, rows: u32, seed: u64) -> Result<(), XlsxError> {
    let mut rng = SplitMix::new(seed);
    let mut workbook = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let ws = workbook.add_worksheet();
    ws.set_name(SHEET)?;
    for (c, name) in COLUMNS.iter().enumerate() {
        ws.write_string(0, c as u16, *name)?;
    }
    for r in 1..=rows {
        let word = |rng: &mut SplitMix| WORDS[rng.below(WORDS.len() as u64) as usize];
        ws.write_number(r, 0, f64::from(r))?;
        let name = format!("{} {}", word(&mut rng), word(&mut rng));
        ws.write_string(r, 1, &name)?;
        ws.write_string(r, 2, format!("{}.{r}@example.com", word(&mut rng)))?;
        ws.write_number(r, 3, rng.below(10_000_000) as f64 / 100.0)?;
        ws.write_number(r, 4, rng.below(1000) as f64)?;
        ws.write_boolean(r, 5, rng.below(2) == 1)?;
        let day = ExcelDateTime::from_serial_datetime(40_000 + rng.below(6000) as u32)?;
        ws.write_datetime_with_format(r, 6, day, &date)?;
        let at = 40_000.0 + rng.below(6000 * 86_400) as f64 / 86_400.0;
        ws.write_datetime_with_format(r, 7, ExcelDateTime::from_serial_datetime(at)?, &stamp)?;
        ws.write_string(r, 8, word(&mut rng))?;
        if rng.below(4) != 0 {
            let note = format!("{} {} {}", word(&mut rng), word(&mut rng), word(&mut rng));
            ws.write_string(r, 9, note)?;
        }
    }
    workbook.save(path)
}
