mod translate;
pub use translate::*;
