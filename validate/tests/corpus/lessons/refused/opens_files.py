# expect: GF402 line 14
# expect: GF402 line 15
# expect: GF402 line 16
# expect: GF402 line 17
# expect: GF402 line 18
# expect: GF402 line 19
# expect: GF402 line 20
# expect: GF402 line 21
# expect: GF402 line 22
# expect: GF303 line 23
# In-memory bytes are fine; whatever opens a file by name is still refused,
# however it is reached.
import bz2, gzip, io, logging, lzma                           # fine
notes = gzip.open("notes.txt.gz")                             # line 14
raw = io.open("data.bin", "rb")                               # line 15
handle = io.FileIO("data.bin")                                # line 16
packed = gzip.GzipFile("archive.gz")                          # line 17
old = bz2.open("old.bz2")                                     # line 18
xz = lzma.LZMAFile("data.xz")                                 # line 19
sneaky = gzip.io.open("data.bin")                             # line 20
text = open("readme.txt").read()                              # line 21
from io import open as io_open                                # line 22
import zipfile                                                # line 23
from fastapi import FastAPI
app = FastAPI()
