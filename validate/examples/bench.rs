//! Times `validate_with` on a generated ~10,000-line FastAPI app.
//!
//! ```sh
//! cargo run --release -p gofast-validate --example bench -- [PATH] [RUNS]
//! python3 validate/bench/ast_parse_bench.py PATH [RUNS]
//! ```
//!
//! The generated source is written to PATH (default
//! `target/gofast-validate-bench.py`) so CPython's `ast.parse` can be timed
//! on exactly the same file.

use std::time::Instant;

use gofast_validate::{Limits, SourceFile, validate_with};

const HEADER: &str = r#""""A large generated FastAPI app for benchmarking the validator."""

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, status
from pydantic import BaseModel, Field, field_validator

app = FastAPI(title="Benchmark")
router = APIRouter(prefix="/api")


def pagination(skip: int = 0, limit: Annotated[int, Query(le=100)] = 10) -> dict:
    return {"skip": skip, "limit": limit}

"#;

/// One resource: an enum, two models, a store and four endpoints (~60 lines).
fn block(i: usize) -> String {
    format!(
        r#"
class Kind{i}(str, Enum):
    small = "small"
    large = "large"


class Thing{i}In(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0, description="Price in euros")
    kind: Kind{i} = Kind{i}.small
    tags: list[str] = []

    @field_validator("name")
    @classmethod
    def strip_name(cls, value: str) -> str:
        return value.strip()


class Thing{i}(Thing{i}In):
    id: int
    created: datetime


THINGS_{i}: dict[int, Thing{i}] = {{}}


@router.get("/things{i}", response_model=list[Thing{i}])
def list_things_{i}(page: Annotated[dict, Depends(pagination)], kind: Optional[Kind{i}] = None):
    found = [t for t in THINGS_{i}.values() if kind is None or t.kind == kind]
    return found[page["skip"] : page["skip"] + page["limit"]]


@router.get("/things{i}/{{thing_id}}")
def get_thing_{i}(thing_id: int) -> Thing{i}:
    if thing_id not in THINGS_{i}:
        raise HTTPException(status_code=404, detail=f"Thing {{thing_id}} not found")
    return THINGS_{i}[thing_id]


@router.post("/things{i}", status_code=status.HTTP_201_CREATED)
async def create_thing_{i}(thing: Thing{i}In) -> Thing{i}:
    new_id = max(THINGS_{i}, default=0) + 1
    created = Thing{i}(id=new_id, created=datetime.now(timezone.utc), **thing.model_dump())
    THINGS_{i}[new_id] = created
    return created


@router.delete("/things{i}/{{thing_id}}", status_code=204)
async def delete_thing_{i}(thing_id: int) -> None:
    THINGS_{i}.pop(thing_id, None)

"#
    )
}

fn generate(target_lines: usize) -> String {
    let mut source = HEADER.to_string();
    let mut i = 0;
    while source.lines().count() < target_lines {
        source.push_str(&block(i));
        i += 1;
    }
    source.push_str("\napp.include_router(router)\n");
    source
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "target/gofast-validate-bench.py".to_string());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);

    let source = generate(10_000);
    if let Err(e) = std::fs::write(&path, &source) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
    let files = [SourceFile {
        name: "main.py",
        content: source.as_bytes(),
    }];
    let limits = Limits {
        max_file_bytes: 16 << 20,
        max_total_bytes: 16 << 20,
        ..Limits::default()
    };
    let diagnostics = validate_with(&files, &limits);
    assert!(
        diagnostics.is_empty(),
        "the generated app should be clean: {diagnostics:?}"
    );

    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let diagnostics = validate_with(&files, &limits);
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(diagnostics);
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "gofast-validate: {} lines, {} KiB, {runs} runs: median {median:.2} ms (min {:.2}, max {:.2}); file: {path}",
        source.lines().count(),
        source.len() / 1024,
        times[0],
        times[times.len() - 1],
    );
}
