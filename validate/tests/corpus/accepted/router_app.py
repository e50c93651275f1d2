from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

users = APIRouter(prefix="/users", tags=["users"])
books = APIRouter(prefix="/books", tags=["books"])

BOOKS = [
    {"id": 1, "title": "Dune", "year": 1965},
    {"id": 2, "title": "Neuromancer", "year": 1984},
]


@users.get("/")
def list_users():
    return ["alice", "bob"]


@users.get("/{name}")
def get_user(name: str):
    return {"name": name, "length": len(name)}


@books.get("/")
def list_books(after: int = 0):
    return [book for book in BOOKS if book["year"] > after]


@books.get("/{book_id}")
def get_book(book_id: int):
    for book in BOOKS:
        if book["id"] == book_id:
            return book
    return JSONResponse(status_code=404, content={"detail": "no such book"})


app = FastAPI()
app.include_router(users)
app.include_router(books)
