import base64
import hashlib
from typing import Annotated

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import HTMLResponse

app = FastAPI()


@app.post("/files/")
async def create_file(file: Annotated[bytes, File()]):
    return {"file_size": len(file)}


@app.post("/uploadfile/")
async def create_upload_file(file: UploadFile, note: Annotated[str, Form()] = ""):
    content = await file.read()
    digest = hashlib.sha256(content).hexdigest()
    preview = base64.b64encode(content[:30]).decode("ascii")
    return {"filename": file.filename, "sha256": digest, "preview": preview, "note": note}


@app.post("/many/")
async def many(files: list[UploadFile] = File(description="Several files")):
    sizes = {}
    for upload in files:
        data = await upload.read()
        sizes[upload.filename] = len(data)
        await upload.close()
    return sizes


@app.get("/", response_class=HTMLResponse)
async def form():
    return """
    <form action="/uploadfile/" enctype="multipart/form-data" method="post">
      <input name="file" type="file">
      <input name="note" type="text">
      <input type="submit">
    </form>
    """
