//! Frame-indexed arrays: `[frames, dim]` row-major, always with their grid.

use crate::grid::FrameGrid;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FramesError {
    #[error("shape mismatch: {len} values do not make rows of {dim}")]
    Shape { len: usize, dim: usize },
}

/// A `[frames, dim]` row-major array of f32 with the [`FrameGrid`] of its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    pub data: Vec<f32>,
    pub dim: usize,
    pub grid: FrameGrid,
}

impl Frames {
    pub fn new(data: Vec<f32>, dim: usize, grid: FrameGrid) -> Result<Self, FramesError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(FramesError::Shape {
                len: data.len(),
                dim,
            });
        }
        Ok(Frames { data, dim, grid })
    }

    pub fn n_frames(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn shape(&self) -> [usize; 2] {
        [self.n_frames(), self.dim]
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ragged_data() {
        let g = FrameGrid::samples(16_000);
        assert!(Frames::new(vec![0.0; 7], 2, g).is_err());
        let f = Frames::new(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 3, g).unwrap();
        assert_eq!(f.shape(), [2, 3]);
        assert_eq!(f.row(1), &[3.0, 4.0, 5.0]);
    }
}
