//! Which modules a gofast app may import, which it may not and why, and which
//! names of allowed modules still reach something refused.
//!
//! Decisions are made on the full dotted name: `urllib.parse` is allowed,
//! `urllib.request` is not. Refusals win over allowances.

/// Why a module (or a member of one) is refused. Each kind maps to its own
/// diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not installed / not offered (GF301).
    Unavailable,
    /// Opens network connections (GF302).
    Network,
    /// Reaches the OS, files, processes or the interpreter (GF303).
    System,
    /// A web server: the platform runs the app itself (GF305).
    Server,
}

impl Kind {
    pub(crate) fn import_code(self) -> &'static str {
        match self {
            Kind::Unavailable => "GF301",
            Kind::Network => "GF302",
            Kind::System => "GF303",
            Kind::Server => "GF305",
        }
    }
}

/// A refused module with its reason and what to do instead.
pub(crate) struct Refused {
    pub(crate) kind: Kind,
    pub(crate) why: &'static str,
    pub(crate) hint: &'static str,
}

/// Allowed modules; `true` also allows every submodule.
#[rustfmt::skip]
const ALLOWED: &[(&str, bool)] = &[
    ("fastapi", true), ("starlette", true), ("pydantic", true), ("pydantic_core", true),
    ("annotated_types", true), ("__future__", false), ("abc", false), ("array", false),
    ("asyncio", false), ("base64", false), ("binascii", false), ("bisect", false),
    ("bz2", false), ("calendar", false), ("cmath", false), ("collections", true),
    ("contextlib", false), ("contextvars", false), ("copy", false), ("csv", false),
    ("dataclasses", false), ("datetime", false), ("decimal", false), ("difflib", false),
    ("enum", false), ("fractions", false), ("functools", false), ("graphlib", false),
    ("gzip", false), ("hashlib", false), ("heapq", false), ("hmac", false), ("html", true),
    ("http", false), ("io", false), ("ipaddress", false), ("itertools", false), ("json", false),
    ("keyword", false), ("logging", false), ("lzma", false), ("math", false), ("numbers", false),
    ("operator", false), ("pprint", false), ("random", false), ("re", false), ("reprlib", false),
    ("secrets", false), ("statistics", false), ("string", false), ("struct", false),
    ("textwrap", false), ("time", false), ("typing", false), ("unicodedata", false),
    ("urllib.parse", false), ("uuid", false), ("warnings", false), ("zlib", false),
    ("zoneinfo", false),
];

const NET: &str = "network modules are not available to gofast apps";
const NET_HINT: &str =
    "serve data from your own endpoints; keep sample data in a Python dict or list";
const HTTP_CLIENT: &str = "HTTP client libraries are not installed for gofast apps";
const FILES: &str = "gofast apps have no disk to read or write";
const FILES_HINT: &str = "keep data in memory: dicts, lists or pydantic models";
const PROCS: &str = "gofast apps cannot start programs, processes or threads";
const PROCS_HINT: &str = "use `async def` endpoints, asyncio.sleep and FastAPI's BackgroundTasks";
const INTERP: &str = "it reaches into the Python interpreter, which the sandbox does not allow";
const INTERP_HINT: &str =
    "import modules with a plain `import` statement and call their functions directly";
const OSINFO: &str = "it reads the machine the app runs on, which the sandbox does not allow";
const SETTINGS: &str = "settings from environment variables or .env files are not available";
const SETTINGS_HINT: &str = "write settings as constants in your code, e.g. `MAX_ITEMS = 100`";
const SERVER: &str = "the platform starts your app itself, so a web server is not needed";
const SERVER_HINT: &str =
    "remove the import and any `uvicorn.run(...)` call; main.py only needs `app = FastAPI()`";
const OTHER_FRAMEWORK: &str = "gofast runs FastAPI apps, so other web frameworks are not installed";

macro_rules! refused {
    ($kind:ident, $why:expr, $hint:expr, [$($name:literal),* $(,)?]) => {
        &[$(($name, Refused { kind: Kind::$kind, why: $why, hint: $hint })),*]
    };
}

/// Refused modules and module prefixes (a prefix refuses its submodules too).
#[rustfmt::skip]
const REFUSED: &[&[(&str, Refused)]] = &[
    refused!(Network, NET, NET_HINT, [
        "socket", "ssl", "select", "selectors", "socketserver", "asyncore", "asynchat", "ftplib",
        "poplib", "imaplib", "nntplib", "smtplib", "smtpd", "telnetlib", "xmlrpc", "webbrowser",
        "wsgiref", "urllib.request", "urllib.response", "urllib.error", "urllib.robotparser",
        "http.client", "http.server", "http.cookiejar", "asyncio.streams", "asyncio.sslproto",
        "asyncio.trsock", "asyncio.selector_events", "asyncio.proactor_events", "aiohttp",
        "urllib3", "httplib2", "httpcore", "h11", "h2", "websockets", "websocket", "grpc",
        "paramiko", "pycurl", "boto3", "botocore", "dns",
    ]),
    refused!(Network, HTTP_CLIENT, NET_HINT, [
        "requests", "httpx",
    ]),
    refused!(
        System,
        "`os` reads and changes the machine the app runs on (files, environment, processes), which the sandbox does not allow",
        "keep settings as constants in your code and data in dicts or lists",
        [
            "os", "posix", "nt",
        ]
    ),
    refused!(
        System,
        "`sys` exposes the Python interpreter itself, which the sandbox does not allow",
        "print() and logging work for output; raise HTTPException to end a request with an error",
        [
            "sys",
        ]
    ),
    refused!(System, PROCS, PROCS_HINT, [
        "subprocess", "pty", "multiprocessing", "concurrent", "threading", "_thread", "signal",
        "resource", "sched", "asyncio.subprocess", "asyncio.base_subprocess",
        "asyncio.unix_events", "asyncio.windows_events", "asyncio.windows_utils",
        "asyncio.base_events", "anyio", "trio", "uvloop", "sh", "pexpect", "plumbum",
    ]),
    refused!(System, FILES, FILES_HINT, [
        "pathlib", "shutil", "glob", "tempfile", "fileinput", "filecmp", "zipfile",
        "tarfile", "shelve", "dbm", "sqlite3", "mmap", "fcntl",
        "logging.handlers", "logging.config", "json.tool", "fastapi.staticfiles",
        "starlette.staticfiles", "codecs", "aiofiles", "watchfiles", "multipart",
        "python_multipart",
    ]),
    refused!(System, SETTINGS, SETTINGS_HINT, [
        "dotenv", "pydantic_settings", "starlette.config", "pydantic.env_settings",
        "pydantic.v1.env_settings",
    ]),
    refused!(System, OSINFO, "write the values you need as constants in your code", [
        "platform", "sysconfig", "site", "pwd", "grp", "getpass", "locale", "termios", "tty",
        "readline", "rlcompleter", "syslog", "errno", "stat",
    ]),
    refused!(System, INTERP, INTERP_HINT, [
        "ctypes", "cffi", "importlib", "imp", "pkgutil", "runpy", "zipimport", "modulefinder",
        "builtins", "inspect", "gc", "code", "codeop", "dis", "marshal", "copyreg", "types",
        "traceback", "tracemalloc", "faulthandler", "pdb", "bdb", "trace", "cProfile", "profile",
        "pstats", "pydoc", "atexit", "linecache", "tokenize", "ast", "symtable", "compileall",
        "py_compile", "enum.bltns",
    ]),
    refused!(
        System,
        "`pickle` can run code hidden in the data it loads, which the sandbox does not allow",
        "use json to turn data into text and back",
        [
            "pickle", "pickletools", "cloudpickle", "dill",
        ]
    ),
    refused!(Server, SERVER, SERVER_HINT, [
        "uvicorn", "gunicorn", "hypercorn", "daphne", "granian", "waitress",
    ]),
    refused!(
        Unavailable,
        OTHER_FRAMEWORK,
        "write the app with FastAPI: `from fastapi import FastAPI`",
        [
            "flask", "django", "bottle", "tornado", "sanic", "quart", "litestar", "aiohttp_jinja2",
        ]
    ),
    refused!(
        Unavailable,
        "`typing_extensions` is not available",
        "use `typing` instead: Python 3.11 has Annotated, Literal, TypedDict, Self and more",
        [
            "typing_extensions",
        ]
    ),
    refused!(
        Unavailable,
        "templates need jinja2, which is not installed",
        "return HTML with `HTMLResponse` and an f-string",
        [
            "fastapi.templating", "starlette.templating", "jinja2",
        ]
    ),
    refused!(
        Unavailable,
        "TestClient is for tests on your own computer; deployed apps do not need it",
        "remove the import from the deployed app",
        [
            "fastapi.testclient", "starlette.testclient",
        ]
    ),
];

/// Public submodules of the allowed third-party packages (pydantic 2,
/// fastapi 0.11x+, starlette). Used to tell `starlette.requests` (a module)
/// from `something.requests` (the refused HTTP library reached by attribute).
#[rustfmt::skip]
const KNOWN_SUBMODULES: &[&str] = &[
    "fastapi.applications", "fastapi.background", "fastapi.cli", "fastapi.concurrency",
    "fastapi.datastructures", "fastapi.dependencies", "fastapi.dependencies.models",
    "fastapi.dependencies.utils", "fastapi.encoders", "fastapi.exception_handlers",
    "fastapi.exceptions", "fastapi.logger", "fastapi.middleware",
    "fastapi.middleware.asyncexitstack", "fastapi.middleware.cors", "fastapi.middleware.gzip",
    "fastapi.middleware.httpsredirect", "fastapi.middleware.trustedhost",
    "fastapi.middleware.wsgi", "fastapi.openapi", "fastapi.openapi.constants",
    "fastapi.openapi.docs", "fastapi.openapi.models", "fastapi.openapi.utils",
    "fastapi.param_functions", "fastapi.params", "fastapi.requests", "fastapi.responses",
    "fastapi.routing", "fastapi.security", "fastapi.security.api_key", "fastapi.security.base",
    "fastapi.security.http", "fastapi.security.oauth2", "fastapi.security.open_id_connect_url",
    "fastapi.security.utils", "fastapi.sse", "fastapi.status", "fastapi.types", "fastapi.utils",
    "fastapi.websockets", "pydantic.alias_generators", "pydantic.aliases",
    "pydantic.annotated_handlers", "pydantic.class_validators", "pydantic.color",
    "pydantic.config", "pydantic.dataclasses", "pydantic.datetime_parse", "pydantic.decorator",
    "pydantic.deprecated", "pydantic.error_wrappers", "pydantic.errors", "pydantic.experimental",
    "pydantic.fields", "pydantic.functional_serializers", "pydantic.functional_validators",
    "pydantic.generics", "pydantic.json", "pydantic.json_schema", "pydantic.main",
    "pydantic.networks", "pydantic.parse", "pydantic.plugin", "pydantic.root_model",
    "pydantic.schema", "pydantic.tools", "pydantic.type_adapter", "pydantic.types",
    "pydantic.typing", "pydantic.utils", "pydantic.v1", "pydantic.v1.types", "pydantic.v1.typing",
    "pydantic.validate_call_decorator", "pydantic.validators", "pydantic.version",
    "pydantic.warnings", "pydantic_core.core_schema", "starlette.applications",
    "starlette.authentication", "starlette.background", "starlette.concurrency",
    "starlette.convertors", "starlette.datastructures", "starlette.endpoints",
    "starlette.exceptions", "starlette.formparsers", "starlette.middleware",
    "starlette.middleware.authentication", "starlette.middleware.base",
    "starlette.middleware.body_limit", "starlette.middleware.cors", "starlette.middleware.errors",
    "starlette.middleware.exceptions", "starlette.middleware.gzip",
    "starlette.middleware.httpsredirect", "starlette.middleware.sessions",
    "starlette.middleware.trustedhost", "starlette.middleware.wsgi", "starlette.requests",
    "starlette.responses", "starlette.routing", "starlette.schemas", "starlette.status",
    "starlette.types", "starlette.websockets",
];

/// Public top-level modules of the Python 3.11 standard library
/// (`sys.stdlib_module_names` without the private ones).
#[rustfmt::skip]
pub(crate) const STDLIB: &[&str] = &[
    "abc", "aifc", "antigravity", "argparse", "array", "ast", "asynchat", "asyncio", "asyncore",
    "atexit", "audioop", "base64", "bdb", "binascii", "bisect", "builtins", "bz2", "cProfile",
    "calendar", "cgi", "cgitb", "chunk", "cmath", "cmd", "code", "codecs", "codeop", "collections",
    "colorsys", "compileall", "concurrent", "configparser", "contextlib", "contextvars", "copy",
    "copyreg", "crypt", "csv", "ctypes", "curses", "dataclasses", "datetime", "dbm", "decimal",
    "difflib", "dis", "distutils", "doctest", "email", "encodings", "ensurepip", "enum", "errno",
    "faulthandler", "fcntl", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools",
    "gc", "genericpath", "getopt", "getpass", "gettext", "glob", "graphlib", "grp", "gzip",
    "hashlib", "heapq", "hmac", "html", "http", "idlelib", "imaplib", "imghdr", "imp", "importlib",
    "inspect", "io", "ipaddress", "itertools", "json", "keyword", "lib2to3", "linecache", "locale",
    "logging", "lzma", "mailbox", "mailcap", "marshal", "math", "mimetypes", "mmap",
    "modulefinder", "msilib", "msvcrt", "multiprocessing", "netrc", "nis", "nntplib", "nt",
    "ntpath", "nturl2path", "numbers", "opcode", "operator", "optparse", "os", "ossaudiodev",
    "pathlib", "pdb", "pickle", "pickletools", "pipes", "pkgutil", "platform", "plistlib",
    "poplib", "posix", "posixpath", "pprint", "profile", "pstats", "pty", "pwd", "py_compile",
    "pyclbr", "pydoc", "pydoc_data", "pyexpat", "queue", "quopri", "random", "re", "readline",
    "reprlib", "resource", "rlcompleter", "runpy", "sched", "secrets", "select", "selectors",
    "shelve", "shlex", "shutil", "signal", "site", "smtpd", "smtplib", "sndhdr", "socket",
    "socketserver", "spwd", "sqlite3", "sre_compile", "sre_constants", "sre_parse", "ssl", "stat",
    "statistics", "string", "stringprep", "struct", "subprocess", "sunau", "symtable", "sys",
    "sysconfig", "syslog", "tabnanny", "tarfile", "telnetlib", "tempfile", "termios", "textwrap",
    "this", "threading", "time", "timeit", "tkinter", "token", "tokenize", "tomllib", "trace",
    "traceback", "tracemalloc", "tty", "turtle", "turtledemo", "types", "typing", "unicodedata",
    "unittest", "urllib", "uu", "uuid", "venv", "warnings", "wave", "weakref", "webbrowser",
    "winreg", "winsound", "wsgiref", "xdrlib", "xml", "xmlrpc", "zipapp", "zipfile", "zipimport",
    "zlib", "zoneinfo",
];

/// Third-party packages that are (or may be) installed where apps run. A
/// submitted file with one of these names would hide the package.
#[rustfmt::skip]
pub(crate) const RUNTIME_PACKAGES: &[&str] = &[
    "fastapi", "starlette", "pydantic", "pydantic_core", "annotated_types", "annotated_doc",
    "typing_extensions", "typing_inspection", "anyio", "sniffio", "idna", "uvicorn", "h11",
    "click", "multipart", "python_multipart", "httptools", "uvloop", "websockets", "watchfiles",
    "dotenv", "yaml", "email_validator", "dns", "jinja2", "markupsafe", "itsdangerous", "orjson",
    "ujson", "httpx", "httpcore", "certifi", "requests", "urllib3", "pip", "setuptools", "wheel",
    "pkg_resources", "opentelemetry", "gofast",
];

/// Names that modules use to re-export a refused module under another name
/// (`enum.bltns` is `builtins`).
const ALIASES_OF_REFUSED: &[&str] = &["bltns"];

/// What a refused member of an allowed module would let an app do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capability {
    Processes,
    Network,
    Files,
    ImportByName,
}

impl Capability {
    /// The diagnostic code: file access has its own (GF402), the rest GF407.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Capability::Files => "GF402",
            _ => "GF407",
        }
    }

    pub(crate) fn why(self) -> &'static str {
        match self {
            Capability::Processes => "starts other programs, which gofast apps cannot do",
            Capability::Network => "opens network connections, which gofast apps may not do",
            Capability::Files => "reads or writes files, and gofast apps have no disk",
            Capability::ImportByName => {
                "imports code named by a string, which the sandbox does not allow"
            }
        }
    }

    pub(crate) fn hint(self) -> &'static str {
        match self {
            Capability::Processes => PROCS_HINT,
            Capability::Network => NET_HINT,
            Capability::Files => FILES_HINT,
            Capability::ImportByName => INTERP_HINT,
        }
    }
}

/// Members of allowed modules that reach something refused, by module prefix.
///
/// This is the general rule for modules that mostly work in memory: the module
/// is allowed (`gzip.compress`, `io.BytesIO`, `csv.writer` touch no disk) and
/// only the members that open a file by name are refused, with GF402.
const REFUSED_MEMBERS: &[(&str, &[&str], Capability)] = &[
    ("io", &["open", "open_code", "FileIO"], Capability::Files),
    // `*File` take a file name (a file object too, but the name is what
    // lessons pass); `main` is the command-line tool, which opens its arguments.
    ("gzip", &["open", "GzipFile", "main"], Capability::Files),
    ("bz2", &["open", "BZ2File"], Capability::Files),
    ("lzma", &["open", "LZMAFile"], Capability::Files),
    (
        "asyncio",
        &["create_subprocess_exec", "create_subprocess_shell"],
        Capability::Processes,
    ),
    (
        "asyncio",
        &[
            "open_connection",
            "start_server",
            "open_unix_connection",
            "start_unix_server",
        ],
        Capability::Network,
    ),
    (
        "logging",
        &["FileHandler", "WatchedFileHandler", "RotatingFileHandler"],
        Capability::Files,
    ),
    (
        "fastapi",
        &["FileResponse", "StaticFiles"],
        Capability::Files,
    ),
    (
        "starlette",
        &["FileResponse", "StaticFiles"],
        Capability::Files,
    ),
    ("contextlib", &["chdir"], Capability::Files),
    ("zoneinfo", &["reset_tzpath"], Capability::Files),
];

/// Attribute names refused on any object: helpers that start programs, import
/// modules named by a string, or read files, wherever they are reached from.
const REFUSED_ANYWHERE: &[(&str, Capability)] = &[
    ("create_subprocess_exec", Capability::Processes),
    ("create_subprocess_shell", Capability::Processes),
    ("subprocess_exec", Capability::Processes),
    ("subprocess_shell", Capability::Processes),
    ("connect_read_pipe", Capability::Processes),
    ("connect_write_pipe", Capability::Processes),
    ("ImportString", Capability::ImportByName),
    ("import_string", Capability::ImportByName),
    ("parse_file", Capability::Files),
    ("parse_file_as", Capability::Files),
    ("load_file", Capability::Files),
];

/// The verdict on a dotted module name.
pub(crate) enum Verdict {
    Allowed,
    Refused(&'static Refused),
    /// Neither allowed nor specifically refused: not available.
    Unknown,
}

/// The refusal entry matching `name` exactly or as a parent package.
fn refusal(name: &str) -> Option<&'static Refused> {
    REFUSED
        .iter()
        .flat_map(|group| group.iter())
        .filter(|(prefix, _)| is_same_or_child(name, prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, r)| r)
}

/// Whether `name` is `prefix` or one of its submodules.
pub(crate) fn is_same_or_child(name: &str, prefix: &str) -> bool {
    name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes()[prefix.len()] == b'.')
}

/// What gofast says about importing the dotted module `name`.
pub(crate) fn classify(name: &str) -> Verdict {
    if let Some(r) = refusal(name) {
        return Verdict::Refused(r);
    }
    let allowed = ALLOWED.iter().any(|&(entry, subs)| {
        entry == name
            || (subs && is_same_or_child(name, entry))
            // a parent package of an allowed module, e.g. `urllib`
            || is_same_or_child(entry, name)
    });
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::Unknown
    }
}

/// Whether `path` is a module gofast knows (an allowed module or a known
/// submodule of an allowed package), as opposed to some other attribute.
pub(crate) fn is_known_module(path: &str) -> bool {
    KNOWN_SUBMODULES.contains(&path)
        || ALLOWED
            .iter()
            .any(|&(entry, _)| entry == path || is_same_or_child(entry, path))
}

/// Whether an attribute or imported name called `name` is (an alias of) a
/// module that apps may not import, e.g. the `os` in `logging.os`.
pub(crate) fn is_refused_module_name(name: &str) -> bool {
    if ALIASES_OF_REFUSED.contains(&name) {
        return true;
    }
    let known =
        STDLIB.contains(&name) || RUNTIME_PACKAGES.contains(&name) || refusal(name).is_some();
    known && !matches!(classify(name), Verdict::Allowed)
}

/// What member `name` of module `module` would let an app do, if refused.
pub(crate) fn refused_member(module: &str, name: &str) -> Option<Capability> {
    REFUSED_MEMBERS
        .iter()
        .find(|(prefix, names, _)| is_same_or_child(module, prefix) && names.contains(&name))
        .map(|&(_, _, capability)| capability)
        .or_else(|| refused_anywhere(name))
}

/// What attribute `name` would let an app do, when refused on any object.
pub(crate) fn refused_anywhere(name: &str) -> Option<Capability> {
    REFUSED_ANYWHERE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| c)
}

/// The module that `path` (a module's attribute or a name imported from one)
/// denotes, if gofast knows it as one: a known module, or an allowed module
/// with refused members that another module re-exports (`gzip.io` is `io`,
/// `logging.io` too), so that `gzip.io.open` is judged as `io.open`.
pub(crate) fn module_at(path: &str) -> Option<String> {
    if is_known_module(path) {
        return Some(path.to_string());
    }
    let last = path.rsplit('.').next()?;
    let reexported = last != path
        && REFUSED_MEMBERS
            .iter()
            .any(|(module, _, _)| *module == last && STDLIB.contains(module));
    reexported.then(|| last.to_string())
}

/// The verdict on `module.name`: an attribute of an allowed module, or a
/// name imported from it.
pub(crate) enum Member {
    /// An ordinary public name.
    Fine,
    /// A known submodule.
    Module,
    /// A `_private` name (dunders are judged elsewhere).
    Private,
    /// `module.name` is itself a refused module (`urllib.request`).
    RefusedModule(&'static Refused),
    /// `name` is a module apps may not import, re-exported (`logging.os`).
    RefusedModuleName(Option<&'static Refused>),
    /// A member that reaches a refused capability.
    Capability(Capability),
}

pub(crate) fn member(module: &str, name: &str) -> Member {
    let path = format!("{module}.{name}");
    if name.starts_with('_') && !(name.starts_with("__") && name.ends_with("__")) {
        return Member::Private;
    }
    if let Some(r) = refusal(&path) {
        return Member::RefusedModule(r);
    }
    if is_known_module(&path) {
        return Member::Module;
    }
    if is_refused_module_name(name) {
        return Member::RefusedModuleName(refusal(name));
    }
    match refused_member(module, name) {
        Some(capability) => Member::Capability(capability),
        None => Member::Fine,
    }
}

/// Whether a submitted `<stem>.py` would hide a standard or installed module.
pub(crate) fn is_reserved_module(stem: &str) -> bool {
    STDLIB.contains(&stem)
        || RUNTIME_PACKAGES.contains(&stem)
        || refusal(stem).is_some()
        || ALLOWED
            .iter()
            .any(|(entry, _)| entry.split('.').next() == Some(stem))
}

/// Short list of what apps may import, for hints.
pub(crate) fn allowed_summary() -> String {
    let stdlib: Vec<&str> = ALLOWED
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| STDLIB.contains(&name.split('.').next().unwrap_or(name)))
        .collect();
    format!(
        "gofast apps can import fastapi, pydantic, starlette, annotated_types and these standard modules: {}",
        stdlib.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(name: &str) -> bool {
        matches!(classify(name), Verdict::Allowed)
    }

    fn kind(name: &str) -> Option<Kind> {
        match classify(name) {
            Verdict::Refused(r) => Some(r.kind),
            _ => None,
        }
    }

    #[test]
    fn full_dotted_names_decide() {
        assert!(allowed("urllib.parse"));
        assert!(allowed("urllib"));
        assert_eq!(kind("urllib.request"), Some(Kind::Network));
        assert!(allowed("fastapi.security.oauth2"));
        assert!(allowed("collections.abc"));
        assert!(allowed("asyncio"));
        assert_eq!(kind("asyncio.subprocess"), Some(Kind::System));
        assert_eq!(kind("os.path"), Some(Kind::System));
        assert_eq!(kind("fastapi.staticfiles"), Some(Kind::System));
        assert_eq!(kind("uvicorn"), Some(Kind::Server));
        assert!(matches!(classify("numpy"), Verdict::Unknown));
        assert!(matches!(classify("json.decoder"), Verdict::Unknown));
        assert!(matches!(classify("osx"), Verdict::Unknown));
    }

    #[test]
    fn refused_module_names() {
        assert!(is_refused_module_name("os"));
        assert!(is_refused_module_name("sys"));
        assert!(is_refused_module_name("bltns"));
        assert!(is_refused_module_name("anyio"));
        assert!(!is_refused_module_name("re"));
        assert!(!is_refused_module_name("collections"));
        assert!(!is_refused_module_name("Request"));
        assert!(is_known_module("starlette.requests"));
        assert!(!is_known_module("logging.os"));
    }

    #[test]
    fn members() {
        assert_eq!(
            refused_member("asyncio", "create_subprocess_exec"),
            Some(Capability::Processes)
        );
        assert_eq!(
            refused_member("fastapi.responses", "FileResponse"),
            Some(Capability::Files)
        );
        assert_eq!(refused_member("asyncio", "sleep"), None);
        assert_eq!(
            refused_member("anything", "subprocess_shell"),
            Some(Capability::Processes)
        );
    }

    #[test]
    fn reserved_file_names() {
        assert!(is_reserved_module("os"));
        assert!(is_reserved_module("fastapi"));
        assert!(is_reserved_module("urllib"));
        assert!(is_reserved_module("requests"));
        assert!(!is_reserved_module("greetings"));
        assert!(!is_reserved_module("models"));
    }
}
