//! CSV records read as the request body streams in, each with the physical line it starts on,
//! under a limit on the whole body. The delimiter (comma, semicolon or tab: spreadsheets in
//! Spanish and Portuguese write semicolons) is taken from the header line.

use axum::body::{Body, Bytes};
use csv_core::{ReadRecordResult, ReaderBuilder};
use http_body_util::BodyExt;

/// Bytes looked at to choose the delimiter when the header line is longer.
const SNIFF_BYTES: usize = 64 * 1024;

/// Why reading stopped before the end.
#[derive(Debug)]
pub enum Stop {
    /// The body went over the limit; the records before `line` were read whole.
    TooLarge {
        /// The line reading stopped on.
        line: u64,
    },
    /// The body could not be read (the client went away, or took too long).
    Unreadable(String),
}

/// One record: its fields, unquoted, as bytes.
pub struct Record {
    /// The physical line it starts on (the header is line 1).
    pub line: u64,
    /// Its fields.
    pub fields: Vec<Vec<u8>>,
}

/// Records of a streaming body.
pub struct Records {
    body: Body,
    reader: csv_core::Reader,
    chunk: Bytes,
    pos: usize,
    eof: bool,
    received: usize,
    limit: usize,
    /// The physical line of the next unread byte.
    line: u64,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Records {
    /// Starts reading `body` (at most `limit` bytes), choosing the delimiter from its first line.
    pub async fn start(body: Body, limit: usize) -> Result<Self, Stop> {
        let mut records = Self {
            body,
            reader: csv_core::Reader::new(),
            chunk: Bytes::new(),
            pos: 0,
            eof: false,
            received: 0,
            limit,
            line: 1,
            out: vec![0; 4096],
            ends: vec![0; 64],
        };
        let mut head = Vec::new();
        while !head.contains(&b'\n') && head.len() < SNIFF_BYTES && !records.eof {
            records.fill().await?;
            head.extend_from_slice(&records.chunk);
        }
        let first_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
        records.reader = ReaderBuilder::new()
            .delimiter(delimiter(first_line))
            .build();
        records.chunk = Bytes::from(head);
        records.pos = 0;
        Ok(records)
    }

    /// Makes the next non-empty frame of the body the input, or marks the end.
    async fn fill(&mut self) -> Result<(), Stop> {
        loop {
            match self.body.frame().await {
                None => {
                    self.eof = true;
                    self.chunk = Bytes::new();
                    self.pos = 0;
                    return Ok(());
                }
                Some(Err(e)) => return Err(Stop::Unreadable(e.to_string())),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len();
                    if self.received > self.limit {
                        return Err(Stop::TooLarge { line: self.line });
                    }
                    self.chunk = data;
                    self.pos = 0;
                    return Ok(());
                }
            }
        }
    }

    /// The next record; `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Record>, Stop> {
        // Blank lines between records are skipped here rather than by the parser, so that the
        // line a record starts on is known.
        loop {
            if self.pos == self.chunk.len() {
                if self.eof {
                    return Ok(None);
                }
                self.fill().await?;
                continue;
            }
            match self.chunk[self.pos] {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        let line = self.line;
        self.reader.set_line(line);
        let (mut nout, mut nend) = (0, 0);
        loop {
            if self.pos == self.chunk.len() && !self.eof {
                self.fill().await?;
                continue;
            }
            let (result, nin, o, e) = self.reader.read_record(
                &self.chunk[self.pos..],
                &mut self.out[nout..],
                &mut self.ends[nend..],
            );
            self.pos += nin;
            nout += o;
            nend += e;
            match result {
                // At the end of the body an empty input ends the record instead.
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    self.line = self.reader.line();
                    let mut start = 0;
                    let fields = self.ends[..nend]
                        .iter()
                        .map(|&end| {
                            let field = self.out[start..end].to_vec();
                            start = end;
                            field
                        })
                        .collect();
                    return Ok(Some(Record { line, fields }));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

/// The delimiter a header line uses most: comma, semicolon or tab (comma on a tie).
fn delimiter(first_line: &[u8]) -> u8 {
    let count = |d: u8| first_line.iter().filter(|b| **b == d).count();
    [b';', b'\t']
        .into_iter()
        .filter(|d| count(*d) > count(b','))
        .max_by_key(|d| count(*d))
        .unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(chunks: Vec<&'static str>, limit: usize) -> (Vec<(u64, Vec<String>)>, bool) {
        let body = Body::new(Pieces(chunks.into()));
        let mut records = Records::start(body, limit).await.expect("start");
        let mut out = Vec::new();
        loop {
            match records.next().await {
                Ok(Some(r)) => out.push((
                    r.line,
                    r.fields
                        .into_iter()
                        .map(|f| String::from_utf8(f).unwrap())
                        .collect(),
                )),
                Ok(None) => return (out, false),
                Err(Stop::TooLarge { .. }) => return (out, true),
                Err(Stop::Unreadable(e)) => panic!("{e}"),
            }
        }
    }

    /// A body that arrives in the given pieces.
    struct Pieces(std::collections::VecDeque<&'static str>);

    impl http_body::Body for Pieces {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            let next = self.get_mut().0.pop_front();
            std::task::Poll::Ready(next.map(|s| Ok(http_body::Frame::data(Bytes::from(s)))))
        }
    }

    #[tokio::test]
    async fn records_carry_the_line_they_start_on_across_chunks() {
        let (records, _) = read_all(
            vec![
                "phone,name\r\n+5215512345678,Ana\r\n\r\n+52155",
                "12345679,\"Bea\nline two\"\n+5215512345680,Cam",
            ],
            1 << 20,
        )
        .await;
        assert_eq!(
            records,
            vec![
                (1, vec!["phone".into(), "name".into()]),
                (2, vec!["+5215512345678".into(), "Ana".into()]),
                (4, vec!["+5215512345679".into(), "Bea\nline two".into()]),
                (6, vec!["+5215512345680".into(), "Cam".into()]),
            ]
        );
    }

    #[tokio::test]
    async fn semicolons_delimit_when_the_header_uses_them() {
        let (records, _) = read_all(vec!["phone;tags\n+5215512345678;\"a,b\"\n"], 1 << 20).await;
        assert_eq!(records[1].1, vec!["+5215512345678", "a,b"]);
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit() {
        let (records, too_large) = read_all(vec!["phone\n1\n", "2\n3\n"], 10).await;
        assert!(too_large);
        assert_eq!(records.len(), 2);
    }
}
