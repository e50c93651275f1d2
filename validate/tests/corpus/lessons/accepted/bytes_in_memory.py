# Bytes and text in memory: gzip.compress/decompress, io.BytesIO and
# io.StringIO, csv and zlib touch no disk, so gofast apps may use them (what
# opens a file by name, like gzip.open or io.open, stays refused).
#
# probe: GET /health -> 200 "status":"ok"
# probe: GET /docs -> 200 {prefix}/openapi.json
# probe: GET /openapi.json -> 200 "/packed"
# probe: POST /packed {"text": "hello hello hello"} -> 200 "text":"hello hello hello"
# probe: GET /report.csv -> 200 apples,3
import base64
import csv
import gzip
import io
import zlib

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

app = FastAPI(title="Packer")


class Note(BaseModel):
    text: str


@app.post("/packed")
def packed(note: Note):
    squeezed = gzip.compress(note.text.encode())
    buffer = io.BytesIO(squeezed)
    again = gzip.decompress(buffer.getvalue()).decode()
    return {
        "text": again,
        "gzip": base64.b64encode(squeezed).decode(),
        "crc32": zlib.crc32(note.text.encode()),
    }


@app.get("/report.csv")
def report():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["fruit", "count"])
    writer.writerows([["apples", 3], ["pears", 5]])
    return Response(out.getvalue(), media_type="text/csv")
