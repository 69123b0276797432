//! `convert --to parquet`: the flags and the wiring of inputs, filters and
//! the Parquet exporter (src/export/parquet.rs).

use std::path::Path;
use std::time::Instant;

use super::convert::{ConvertArgs, Input, open_input, report};
use super::output::Output;
use crate::analyze::prefix::Splitter;
use crate::error::{Error, Result};
use crate::export::parquet::{ParquetInput, ParquetOptions, export};
use crate::filter::Filter;
use crate::rdb::read::ReadOptions;

/// Flags of `convert --to parquet`.
#[derive(Debug, Clone, clap::Args)]
pub struct ParquetArgs {
    /// Parquet: rows per row group (memory holds one group per input).
    #[arg(long, default_value_t = 65_536)]
    pub row_group_rows: usize,
    /// Parquet: bytes that separate key prefixes (as `report`).
    #[arg(long, default_value = ":/.|#")]
    pub prefix_separators: String,
    /// Parquet: number of prefix columns (prefix1..prefixN).
    #[arg(long, default_value_t = 3)]
    pub prefix_depth: usize,
}

/// Writes every input (the first already open as `first`) into one
/// Parquet file.
pub fn convert(a: &ConvertArgs, first: &[u8], filter: Filter, read: ReadOptions) -> Result<()> {
    let p = &a.parquet;
    if p.prefix_depth > 16 {
        return Err(Error::usage("--prefix-depth: at most 16 prefix columns"));
    }
    let rest = a
        .more_inputs
        .iter()
        .map(|path| open_input(path, a.from).map_err(|e| e.with_path(path)))
        .collect::<Result<Vec<Input>>>()?;
    let paths: Vec<&Path> = std::iter::once(a.input.as_path())
        .chain(a.more_inputs.iter().map(|p| p.as_path()))
        .collect();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let datas = std::iter::once(first).chain(rest.iter().map(Input::bytes));
    let inputs: Vec<ParquetInput<'_>> = names
        .iter()
        .zip(datas)
        .map(|(name, data)| ParquetInput { name, data })
        .collect();
    let opts = ParquetOptions {
        row_group_rows: p.row_group_rows.max(1),
        split: Splitter {
            separators: p.prefix_separators.as_bytes().to_vec(),
            depth: p.prefix_depth,
        },
        read,
        filter,
        ..ParquetOptions::default()
    };
    let mut out = Output::create(Some(&a.output), &paths)?;
    let t0 = Instant::now();
    match export(&mut out, &inputs, &opts) {
        Ok(st) => {
            out.commit()?;
            let bytes_in = inputs.iter().map(|i| i.data.len()).sum();
            let s = t0.elapsed().as_secs_f64().max(1e-9);
            report(
                "convert",
                bytes_in,
                t0,
                &format!(
                    "; {} rows ({:.0} rows/s) in {} row groups, {} filtered out",
                    st.rows,
                    st.rows as f64 / s,
                    st.row_groups,
                    st.filtered
                ),
            );
            Ok(())
        }
        Err(e) => {
            out.abort();
            Err(e)
        }
    }
}
