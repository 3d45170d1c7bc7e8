//! NumPy `.npy` arrays in and out of the inspection commands, read and written with `npyz`.
//! Inputs may be float32 or float64 (converted to f32) in C order; outputs are float32.

use anyhow::{Context, bail};
use std::path::Path;

/// At most this many values in one array of examples (1 GiB of f32).
pub const MAX_VALUES: usize = 1 << 28;

/// An array of a `.npy` file: its shape and its values in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Reads a `.npy` file of float32 or float64 values in C order (float64 is converted to f32).
///
/// # Errors
/// Naming the file: it cannot be read; it is not a `.npy` file; it is in Fortran order; its
/// dtype is not float32/float64; its data is shorter or longer than its header says; a value
/// is NaN or infinite (in f32).
pub fn read_npy(path: &Path) -> anyhow::Result<Array> {
    let name = path.display();
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {name}"))?.len();
    if size > (8 * MAX_VALUES + (1 << 20)) as u64 {
        bail!("{name} is {size} bytes; at most {MAX_VALUES} values are read at a time");
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    let mut data = &bytes[..];
    let header = npyz::NpyHeader::from_reader(&mut data)
        .map_err(|e| anyhow::anyhow!("{name} is not a .npy file: {e}"))?;
    if header.order() == npyz::Order::Fortran {
        bail!("{name} is in Fortran order; save it in C order (numpy.ascontiguousarray) and try again");
    }
    let width = match header.dtype() {
        npyz::DType::Plain(t)
            if t.type_char() == npyz::TypeChar::Float && matches!(t.size_field(), 4 | 8) =>
        {
            t.size_field() as usize
        }
        other => bail!("{name} holds values of dtype {}; expected float32 or float64", other.descr()),
    };
    let shape: Vec<usize> = header
        .shape()
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{name}: its shape {:?} is too large", header.shape()))?;
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
    let Some(count) = count.filter(|&c| c <= MAX_VALUES) else {
        bail!("{name}: its shape {shape:?} has more than {MAX_VALUES} values");
    };
    if data.len() != count * width {
        let how = if data.len() < count * width { "truncated" } else { "longer than its header says" };
        bail!(
            "{name} is {how}: shape {shape:?} of {width}-byte values needs {} data bytes, the file has {}",
            count * width,
            data.len()
        );
    }
    let file = npyz::NpyFile::with_header(header, data);
    let read = |e: std::io::Error| anyhow::anyhow!("{name}: cannot read its values: {e}");
    let values: Vec<f32> = if width == 4 {
        file.into_vec::<f32>().map_err(read)?
    } else {
        file.into_vec::<f64>().map_err(read)?.into_iter().map(|v| v as f32).collect()
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        bail!("{name}: value {i} (in C order) is not a finite float32 number: {}", values[i]);
    }
    Ok(Array { shape, values })
}

/// Writes `values` as a float32 `.npy` file of `shape` (C order), creating the folder.
pub fn write_npy(path: &Path, shape: &[usize], values: &[f32]) -> anyhow::Result<()> {
    use npyz::WriterBuilder;
    assert_eq!(shape.iter().product::<usize>(), values.len(), "write_npy: shape and values disagree");
    let name = path.display();
    create_parent(path)?;
    let write = || -> std::io::Result<()> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(file).begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()
    };
    write().with_context(|| format!("cannot write {name}"))
}

/// Creates the folder `path` goes into.
/// Errors when `path`'s folder can't be made (an existing part of it is a file), without
/// creating anything.
pub fn check_parent(path: &Path) -> anyhow::Result<()> {
    let existing = path.ancestors().skip(1).take_while(|a| !a.as_os_str().is_empty()).find(|a| a.exists());
    match existing {
        Some(a) if !a.is_dir() => {
            anyhow::bail!("cannot write {}: {} is a file, not a folder", path.display(), a.display())
        }
        _ => Ok(()),
    }
}

pub fn create_parent(path: &Path) -> anyhow::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {} for {}", dir.display(), path.display())),
        _ => Ok(()),
    }
}
