//! Work is linear in the number of submitted files: a request with tens of
//! thousands of tiny files is refused on its count, at once, and even with
//! the count limit raised no step compares every file with every other.

use std::time::{Duration, Instant};

use gofast_validate::{Limits, SourceFile, validate_with};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i}.py")).collect()
}

fn files(names: &[String]) -> Vec<SourceFile<'_>> {
    std::iter::once(SourceFile {
        name: "main.py",
        content: b"from fastapi import FastAPI\napp = FastAPI()\n",
    })
    .chain(names.iter().map(|name| SourceFile { name, content: b"" }))
    .collect()
}

/// The fastest of a few runs, so a busy machine does not decide the result.
fn fastest(files: &[SourceFile<'_>], limits: &Limits) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let d = validate_with(files, limits);
            let elapsed = start.elapsed();
            assert!(d.iter().all(|d| d.code != "GF101"), "{:?}", &d[..1]);
            elapsed
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn fifty_five_thousand_empty_files_are_refused_on_their_count_at_once() {
    // About what fits in 0.8 MB of protobuf.
    let names = names(55_000);
    let files = files(&names);
    let start = Instant::now();
    let d = validate_with(&files, &Limits::DEFAULT);
    let elapsed = start.elapsed();
    let codes: Vec<&str> = d.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["GF002"], "one diagnostic, not one per file");
    assert!(d[0].message.contains("55001 files"), "{}", d[0].message);
    // Linear work here is a few milliseconds even in a debug build; the
    // quadratic version took over 10 s.
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn with_the_count_limit_raised_the_work_grows_linearly() {
    let limits = Limits {
        max_files: usize::MAX,
        ..Limits::default()
    };
    let (small, large) = (names(4_000), names(16_000));
    let t_small = fastest(&files(&small), &limits);
    let t_large = fastest(&files(&large), &limits);
    // Four times the files: about 4x the time when linear, 16x when
    // quadratic. Allow for noise, and for a small input being too fast to
    // measure well.
    let bound = t_small * 9 + Duration::from_millis(50);
    eprintln!("4,000 files: {t_small:?}; 16,000 files: {t_large:?}");
    assert!(
        t_large < bound,
        "4,000 files: {t_small:?}; 16,000 files: {t_large:?} (bound {bound:?})"
    );
}
