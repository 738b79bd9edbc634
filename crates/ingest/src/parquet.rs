//! Parquet transactions reader.
//!
//! Owns: decoding row groups (on background threads, in file order) and converting
//! columns to the canonical types column by column. Files in the canonical types (what
//! `mirrorflow gen --format parquet` writes) take a vectorized path; other types (string
//! amounts, epoch integers, float amounts) are cast to text and validated row by row.
//! A row's "line" is its 1-based row number in the file.
//! Must not: hold the whole file; at most a few decoded batches are in flight.

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, StringArray, UInt64Array};
use arrow::compute::{cast, kernels::cmp::eq, nullif};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::config::InputConfig;
use crate::mapping::mapping_for_header;
use crate::quarantine::render_row;
use crate::values::{TS_MAX_US, TS_MIN_US};
use crate::{
    Chunk, IngestState, Reason, Rejected, Resolved, RowCtx, Slot, TxBuilder, TxMapping, TxReader, fingerprint,
    slot_fields,
};
use mirrorflow_core::error::{Error, Result};
use mirrorflow_core::schema;

/// Background decoders in flight; two matches this project's 2-core machines.
const DECODE_THREADS: usize = 2;

/// How a decoded batch becomes canonical: shared by the decoder threads (which do the
/// column conversion in parallel) and the reader (which checks duplicates in order).
struct Plan {
    name: String,
    mapping: TxMapping,
    /// Per slot: column index in the projected batches.
    resolved: Vec<Resolved>,
}

/// A batch converted column by column, waiting for the in-order duplicate check.
struct Prepared {
    original: RecordBatch,
    /// The canonical columns before `seq`: tx_id .. memo, then label, scheme.
    columns: Vec<ArrayRef>,
    errs: RowErrors,
    /// Fingerprints of the tx_ids of rows without errors, in row order.
    fps: Vec<u128>,
}

enum Decoded {
    Batch(RecordBatch),
    Prepared(Box<Prepared>),
    EndOfRowGroup,
    Failed(String),
}

/// Streams a Parquet transactions file as canonical chunks.
pub struct ParquetTxReader {
    plan: Arc<Plan>,
    channels: Vec<Receiver<Decoded>>,
    row_groups: usize,
    next_rg: usize,
    rows_done: u64,
    builder: TxBuilder,
    /// Rows in the file: room for their ids is made on the first chunk.
    reserve: usize,
}

impl ParquetTxReader {
    /// Opens `path`, checks its columns against the mapping and starts the decoders.
    pub fn open(path: &Path, input: &InputConfig) -> Result<Self> {
        let name = path.display().to_string();
        let open = || File::open(path).map_err(|e| Error::io(path, e));
        let builder = ParquetRecordBatchReaderBuilder::try_new(open()?)
            .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
        let file_schema = builder.schema().clone();
        let header: Vec<String> = file_schema.fields().iter().map(|f| f.name().clone()).collect();
        let mapping = mapping_for_header(input, &header);
        let resolved_full = mapping.resolve(&header).map_err(|e| Error::input(path, e))?;
        // Project only the columns the mapping uses.
        let mut used: Vec<usize> = resolved_full
            .iter()
            .flat_map(|r| match r {
                Resolved::Column(c) => vec![*c],
                Resolved::Joined(cs) => cs.clone(),
                _ => vec![],
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        let remap = |c: usize| used.iter().position(|u| *u == c).expect("used column");
        let resolved: Vec<Resolved> = resolved_full
            .iter()
            .map(|r| match r {
                Resolved::Column(c) => Resolved::Column(remap(*c)),
                Resolved::Joined(cs) => Resolved::Joined(cs.iter().map(|c| remap(*c)).collect()),
                other => other.clone(),
            })
            .collect();
        let arrow_meta = ArrowReaderMetadata::load(&open()?, Default::default())
            .map_err(|e| Error::input(path, format!("not a readable Parquet file: {e}")))?;
        let row_groups = arrow_meta.metadata().num_row_groups();
        let total_rows = arrow_meta.metadata().file_metadata().num_rows().max(0) as usize;
        let mask = ProjectionMask::roots(builder.parquet_schema(), used.iter().copied());
        drop(builder);
        let plan = Arc::new(Plan { name, mapping, resolved });
        let mut channels = Vec::new();
        for t in 0..DECODE_THREADS {
            let (tx, rx) = sync_channel::<Decoded>(2);
            channels.push(rx);
            let file = open()?;
            let rgs: Vec<usize> = (t..row_groups).step_by(DECODE_THREADS).collect();
            let meta = arrow_meta.clone();
            let mask = mask.clone();
            let batch_rows = input.batch_rows;
            let plan = plan.clone();
            std::thread::Builder::new()
                .name(format!("parquet-decode-{t}"))
                .spawn(move || decode_row_groups(file, meta, mask, rgs, batch_rows, plan, tx))
                .map_err(|e| Error::Internal(format!("cannot start a parquet decoder: {e}")))?;
        }
        Ok(ParquetTxReader {
            plan,
            channels,
            row_groups,
            next_rg: 0,
            rows_done: 0,
            builder: TxBuilder::new(),
            reserve: total_rows,
        })
    }
}

/// Decodes row groups `rgs` in order, marking the end of each.
fn decode_row_groups(
    file: File,
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    rgs: Vec<usize>,
    batch_rows: usize,
    plan: Arc<Plan>,
    tx: std::sync::mpsc::SyncSender<Decoded>,
) {
    for rg in rgs {
        let f = match file.try_clone() {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Decoded::Failed(e.to_string()));
                return;
            }
        };
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta.clone())
            .with_row_groups(vec![rg])
            .with_projection(mask.clone())
            .with_batch_size(batch_rows)
            .build();
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Decoded::Failed(format!("row group {rg}: {e}")));
                return;
            }
        };
        for batch in reader {
            let msg = match batch {
                Ok(b) if b.num_rows() > 0 && plan.fast_path_ok(&b) => match plan.prepare(b) {
                    Ok(p) => Decoded::Prepared(Box::new(p)),
                    Err(e) => Decoded::Failed(format!("row group {rg}: {e}")),
                },
                Ok(b) => Decoded::Batch(b),
                Err(e) => Decoded::Failed(format!("row group {rg}: {e}")),
            };
            let failed = matches!(msg, Decoded::Failed(_));
            if tx.send(msg).is_err() || failed {
                return;
            }
        }
        if tx.send(Decoded::EndOfRowGroup).is_err() {
            return;
        }
    }
}

impl TxReader for ParquetTxReader {
    fn name(&self) -> &str {
        &self.plan.name
    }

    fn next_chunk(&mut self, state: &mut IngestState) -> Result<Option<Chunk>> {
        state.reserve(std::mem::take(&mut self.reserve));
        loop {
            if self.next_rg >= self.row_groups {
                return Ok(None);
            }
            let ch = &self.channels[self.next_rg % DECODE_THREADS];
            match ch.recv() {
                Ok(Decoded::Batch(b)) => {
                    let first_line = self.rows_done + 1;
                    self.rows_done += b.num_rows() as u64;
                    if b.num_rows() == 0 {
                        continue;
                    }
                    return self.convert_rows(b, first_line, state).map(Some);
                }
                Ok(Decoded::Prepared(p)) => {
                    let first_line = self.rows_done + 1;
                    self.rows_done += p.original.num_rows() as u64;
                    return self.plan.finish(*p, first_line, state).map(Some);
                }
                Ok(Decoded::EndOfRowGroup) => self.next_rg += 1,
                Ok(Decoded::Failed(e)) => return Err(Error::input(&self.plan.name, e)),
                Err(_) => return Err(Error::Internal(format!("parquet decoder of `{}` stopped", self.plan.name))),
            }
        }
    }
}

impl ParquetTxReader {
    /// Row-by-row conversion through text, for files not in the canonical types.
    fn convert_rows(&mut self, b: RecordBatch, first_line: u64, state: &mut IngestState) -> Result<Chunk> {
        let texts: Vec<StringArray> = b
            .columns()
            .iter()
            .map(|a| as_utf8(a).map(|t| t.as_string::<i32>().clone()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::input(&self.plan.name, format!("a column cannot be read as text: {e}")))?;
        let mut rejected = Vec::new();
        for i in 0..b.num_rows() {
            let line = first_line + i as u64;
            let cols: Vec<Cow<[u8]>> = texts
                .iter()
                .map(|t| Cow::Borrowed(if t.is_null(i) { &b""[..] } else { t.value(i).as_bytes() }))
                .collect();
            let raw = render_row(&b, i);
            let ctx = RowCtx { file: &self.plan.name, line, raw: raw.as_bytes() };
            let slots = slot_fields(&self.plan.resolved, &cols, line);
            if let Err(r) = self.builder.push(&ctx, &slots, &self.plan.mapping) {
                rejected.push(r);
            }
        }
        let (batch, dups) = self.builder.finish(state);
        rejected.extend(dups);
        rejected.sort_by_key(|r| r.line);
        Ok(Chunk { batch, rejected, rows_read: b.num_rows() as u64 })
    }
}

/// Per-row outcome while converting a batch column by column.
struct RowErrors {
    errs: Vec<Option<(Slot, Reason, String)>>,
    any: bool,
}

impl RowErrors {
    fn new(n: usize) -> Self {
        RowErrors { errs: vec![None; n], any: false }
    }
    fn set(&mut self, row: usize, slot: Slot, reason: Reason, what: String) {
        if self.errs[row].is_none() {
            self.errs[row] = Some((slot, reason, what));
            self.any = true;
        }
    }
}

fn as_utf8(a: &ArrayRef) -> std::result::Result<ArrayRef, String> {
    match a.data_type() {
        DataType::Utf8 => Ok(a.clone()),
        _ => cast(a, &DataType::Utf8).map_err(|e| e.to_string()),
    }
}

/// `s` without surrounding whitespace; free when there is none (the common case).
fn trimmed(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if !a.is_ascii_whitespace() && !b.is_ascii_whitespace() => s,
        _ => s.trim(),
    }
}

/// Empty strings become nulls (optional text columns).
fn empty_to_null(a: ArrayRef) -> ArrayRef {
    let s = a.as_string::<i32>();
    if !s.iter().any(|v| v == Some("")) {
        return a;
    }
    let empty = StringArray::new_scalar("");
    match eq(&a, &empty).and_then(|mask| nullif(&a, &mask)) {
        Ok(out) => out,
        Err(_) => a,
    }
}

impl Plan {
    fn fast_path_ok(&self, b: &RecordBatch) -> bool {
        let col_type = |slot: Slot| match &self.resolved[slot as usize] {
            Resolved::Column(c) => Some(b.column(*c).data_type().clone()),
            _ => None,
        };
        let is_text = |t: &DataType| {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _))
        };
        let text_slot = |slot: Slot| match &self.resolved[slot as usize] {
            Resolved::Column(c) => is_text(b.column(*c).data_type()),
            Resolved::Absent => !slot.required_column(),
            Resolved::Const(_) => slot == Slot::Currency,
            _ => false,
        };
        matches!(col_type(Slot::Ts), Some(DataType::Timestamp(_, _)))
            && matches!(col_type(Slot::Amount), Some(DataType::Decimal128(_, s)) if s <= schema::AMOUNT_SCALE)
            && matches!(col_type(Slot::LabelLaundering), None | Some(DataType::Boolean))
            && [
                Slot::TxId,
                Slot::Src,
                Slot::Dst,
                Slot::Currency,
                Slot::Channel,
                Slot::Location,
                Slot::Memo,
                Slot::LabelScheme,
            ]
            .iter()
            .all(|s| text_slot(*s))
    }

    /// Vectorized conversion for canonical column types.
    fn prepare(&self, b: RecordBatch) -> Result<Prepared> {
        let n = b.num_rows();
        let mut errs = RowErrors::new(n);
        let fail = |e: arrow::error::ArrowError| Error::arrow(format!("converting `{}`", self.name), e);
        let text = |slot: Slot| -> Result<Option<ArrayRef>> {
            match &self.resolved[slot as usize] {
                Resolved::Column(c) => as_utf8(b.column(*c)).map(Some).map_err(|e| {
                    Error::input(&self.name, format!("column for {} cannot be read as text: {e}", slot.name()))
                }),
                Resolved::Const(v) => Ok(Some(Arc::new(StringArray::from(vec![v.as_str(); n])) as ArrayRef)),
                _ => Ok(None),
            }
        };

        // tx_id: required, non-empty
        let tx_id = text(Slot::TxId)?.ok_or_else(|| Error::input(&self.name, "no tx_id column"))?;
        {
            let s = tx_id.as_string::<i32>();
            for i in 0..n {
                if s.is_null(i) || trimmed(s.value(i)).is_empty() {
                    errs.set(i, Slot::TxId, Reason::MissingField, "tx_id is missing".into());
                }
            }
        }
        // ts: to UTC microseconds, range-checked
        let ts_col = match &self.resolved[Slot::Ts as usize] {
            Resolved::Column(c) => b.column(*c).clone(),
            _ => return Err(Error::input(&self.name, "no ts column")),
        };
        let ts = cast(&ts_col, &schema::ts_type()).map_err(fail)?;
        {
            let t = ts.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..n {
                if t.is_null(i) {
                    errs.set(i, Slot::Ts, Reason::MissingField, "ts is missing".into());
                } else if !(TS_MIN_US..TS_MAX_US).contains(&t.value(i)) {
                    errs.set(i, Slot::Ts, Reason::BadTimestamp, format!("ts `{}` is outside 1900..2200", t.value(i)));
                }
            }
        }
        // amount: rescale to 18 digits, > 0
        let amount = {
            let c = match &self.resolved[Slot::Amount as usize] {
                Resolved::Column(c) => b.column(*c).clone(),
                _ => return Err(Error::input(&self.name, "no amount column")),
            };
            let d = c.as_primitive::<arrow::datatypes::Decimal128Type>();
            let scale = match d.data_type() {
                DataType::Decimal128(_, s) => *s,
                _ => unreachable!("checked by fast_path_ok"),
            };
            let mul = 10i128.pow((schema::AMOUNT_SCALE - scale) as u32);
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                if d.is_null(i) {
                    errs.set(i, Slot::Amount, Reason::MissingField, "amount is missing".into());
                    vals.push(0);
                    continue;
                }
                match d.value(i).checked_mul(mul) {
                    Some(v) if v > 0 && v < 10i128.pow(38) => vals.push(v),
                    Some(v) if v <= 0 => {
                        errs.set(
                            i,
                            Slot::Amount,
                            Reason::NonPositiveAmount,
                            format!("amount `{}` is not greater than 0", d.value_as_string(i)),
                        );
                        vals.push(0);
                    }
                    _ => {
                        errs.set(
                            i,
                            Slot::Amount,
                            Reason::BadAmount,
                            format!("amount `{}` is too large", d.value_as_string(i)),
                        );
                        vals.push(0);
                    }
                }
            }
            Arc::new(
                Decimal128Array::from(vals)
                    .with_precision_and_scale(schema::DECIMAL_PRECISION, schema::AMOUNT_SCALE)
                    .map_err(fail)?,
            ) as ArrayRef
        };
        // currency: required; value map and upper case
        let currency = text(Slot::Currency)?.ok_or_else(|| Error::input(&self.name, "no currency column"))?;
        let currency = {
            let s = currency.as_string::<i32>();
            let needs_rewrite = !self.mapping.currency_values.is_empty()
                || s.iter().flatten().any(|v| v.bytes().any(|c| c.is_ascii_lowercase()) || trimmed(v).len() != v.len());
            for i in 0..n {
                if s.is_null(i) || trimmed(s.value(i)).is_empty() {
                    errs.set(i, Slot::Currency, Reason::MissingField, "currency is missing".into());
                }
            }
            if needs_rewrite {
                let out: StringArray = s
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            let v = v.trim();
                            self.mapping.currency_values.get(v).cloned().unwrap_or_else(|| v.to_ascii_uppercase())
                        })
                    })
                    .collect();
                Arc::new(out) as ArrayRef
            } else {
                currency
            }
        };
        let opt_text = |slot: Slot| -> Result<ArrayRef> {
            Ok(match text(slot)? {
                Some(a) => empty_to_null(a),
                None => arrow::array::new_null_array(&DataType::Utf8, n),
            })
        };
        let src = opt_text(Slot::Src)?;
        let dst = opt_text(Slot::Dst)?;
        let mut channel = opt_text(Slot::Channel)?;
        if !self.mapping.channel_values.is_empty() {
            let s = channel.as_string::<i32>();
            let out: StringArray = s
                .iter()
                .map(|v| v.map(|v| self.mapping.channel_values.get(v).map(String::as_str).unwrap_or(v)))
                .collect();
            channel = Arc::new(out);
        }
        let location = opt_text(Slot::Location)?;
        let memo = opt_text(Slot::Memo)?;
        let mut scheme = opt_text(Slot::LabelScheme)?;
        if !self.mapping.scheme_null_values.is_empty() {
            let s = scheme.as_string::<i32>();
            let out: StringArray =
                s.iter().map(|v| v.filter(|v| !self.mapping.scheme_null_values.iter().any(|x| x == v))).collect();
            scheme = Arc::new(out);
        }
        let label: ArrayRef = match &self.resolved[Slot::LabelLaundering as usize] {
            Resolved::Column(c) => b.column(*c).clone(),
            _ => arrow::array::new_null_array(&DataType::Boolean, n),
        };
        // NUL is refused by PostgreSQL (for the whole batch): such rows go to quarantine
        for (slot, col) in [
            (Slot::TxId, &tx_id),
            (Slot::Src, &src),
            (Slot::Dst, &dst),
            (Slot::Currency, &currency),
            (Slot::Channel, &channel),
            (Slot::Location, &location),
            (Slot::Memo, &memo),
            (Slot::LabelScheme, &scheme),
        ] {
            let s = col.as_string::<i32>();
            if memchr::memchr(0, s.values().as_slice()).is_none() {
                continue;
            }
            for i in 0..n {
                if s.is_valid(i) && s.value(i).contains('\0') {
                    errs.set(i, slot, Reason::InvalidText, format!("{} holds a NUL character", slot.name()));
                }
            }
        }
        let fps: Vec<u128> = {
            let s = tx_id.as_string::<i32>();
            (0..n).filter(|&i| errs.errs[i].is_none()).map(|i| fingerprint(trimmed(s.value(i)).as_bytes())).collect()
        };
        let columns: Vec<ArrayRef> =
            vec![tx_id, ts, src, dst, amount, currency, channel, location, memo, label, scheme];
        Ok(Prepared { original: b, columns, errs, fps })
    }

    /// Checks duplicates in file order, numbers the rows, and refuses the bad ones.
    fn finish(&self, p: Prepared, first_line: u64, state: &mut IngestState) -> Result<Chunk> {
        let Prepared { original: b, columns, mut errs, fps } = p;
        let n = b.num_rows();
        let fail = |e: arrow::error::ArrowError| Error::arrow(format!("converting `{}`", self.name), e);
        {
            let ids = columns[0].as_string::<i32>();
            let rows: Vec<usize> = (0..n).filter(|&i| errs.errs[i].is_none()).collect();
            let mut new = Vec::new();
            state.first_sightings(&fps, &mut new);
            let ts = columns[1].as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            if let Some(newest) = rows.iter().filter(|&&i| ts.is_valid(i)).map(|&i| ts.value(i)).max() {
                state.saw_until(newest);
            }
            for (&i, fresh) in rows.iter().zip(new) {
                if !fresh {
                    errs.set(i, Slot::TxId, Reason::DuplicateTxId, format!("tx_id `{}` was seen before", ids.value(i)));
                }
            }
        }
        let valid_count = errs.errs.iter().filter(|e| e.is_none()).count();
        let seq: ArrayRef =
            Arc::new(UInt64Array::from_iter_values(state.next_seq..state.next_seq + valid_count as u64));
        state.next_seq += valid_count as u64;

        let mut rejected = Vec::new();
        let mut batch_cols = columns;
        let keep: Option<BooleanArray> = errs.any.then(|| errs.errs.iter().map(|e| Some(e.is_none())).collect());
        if let Some(keep) = &keep {
            for (i, e) in errs.errs.iter().enumerate() {
                if let Some((slot, reason, what)) = e {
                    let raw = render_row(&b, i);
                    rejected.push(Rejected::new(
                        &self.name,
                        first_line + i as u64,
                        slot.name(),
                        *reason,
                        what,
                        raw.as_bytes(),
                    ));
                }
            }
            batch_cols = batch_cols
                .iter()
                .map(|c| arrow::compute::filter(c, keep))
                .collect::<std::result::Result<_, _>>()
                .map_err(fail)?;
        }
        let scheme = batch_cols.pop().expect("scheme column");
        let label = batch_cols.pop().expect("label column");
        batch_cols.push(seq);
        batch_cols.push(label);
        batch_cols.push(scheme);
        let batch = RecordBatch::try_new(schema::transactions_schema(), batch_cols).map_err(fail)?;
        Ok(Chunk { batch, rejected, rows_read: n as u64 })
    }
}

/// Writes batches to a Parquet file (Snappy, row groups of 128k rows): canonical
/// transactions from `mirrorflow ingest --to-parquet`, and the pipeline's
/// `ordered.parquet`.
pub struct ParquetOut {
    path: std::path::PathBuf,
    writer: parquet::arrow::ArrowWriter<File>,
}

impl ParquetOut {
    /// Creates (truncates) `path` for batches of `schema`.
    pub fn create(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024))
            .build();
        let writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| Error::Parquet { path: path.to_path_buf(), source: e })?;
        Ok(ParquetOut { path: path.to_path_buf(), writer })
    }

    /// Appends a batch.
    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        self.writer.write(b).map_err(|e| Error::Parquet { path: self.path.clone(), source: e })
    }

    /// Finishes the file.
    pub fn close(self) -> Result<()> {
        self.writer.close().map(|_| ()).map_err(|e| Error::Parquet { path: self.path, source: e })
    }
}
