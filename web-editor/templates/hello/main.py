from fastapi import FastAPI

app = FastAPI(title="hello")


@app.get("/")
def read_root() -> dict[str, str]:
    return {"message": "Hello from gofast!"}
