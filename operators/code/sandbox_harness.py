"""The test harness that runs inside the sandbox: the only code that can declare a program passed.

The evaluator never trusts an exit status: ``raise SystemExit(main())``, ``os._exit(0)``, an ``atexit``
hook or an always-True ``__eq__`` all look like success from outside. Instead this script (copied into
the sandbox and run as ``python -I -B sandbox_harness.py MODE VERDICT_FD TOKEN_FD INDIR NET TESTS_FD``):

1. reads a per-run random token from ``TOKEN_FD`` into a bytearray, and the tests from ``TESTS_FD`` (an
   unlinked file, so a solution cannot read them to hard-code answers), and closes both;
2. compiles the tests with every comparison, truth test, arithmetic operand and argument of a
   numeric/truth builtin routed through checks that accept only plain builtin values (so a forged
   ``__eq__``, ``__bool__``, ``__sub__`` or ``__float__`` never decides anything), and with pristine
   copies of ``builtins`` and the standard modules (so monkeypatching them changes nothing);
3. arms an audit hook that refuses the ways Python code could reach the token in memory (frames,
   the garbage collector, tracers, ctypes, ``/proc/<pid>/``, code construction, signal handlers);
4. imports the solution as the module ``solution`` (so its ``__main__`` block does not run), runs the
   tests and every ``test_*`` function they define, and checks that every ``assert`` ran;
5. only then writes the token to ``VERDICT_FD``; on any failure it wipes the token first.

MODE ``script`` runs the code as ``__main__`` with no tests (pass = it ran to its end). Everything lives
inside ``_main`` so nothing reachable from ``sys.modules`` refers to the token or to the checks.
"""

import builtins as _builtins

# Functions defined from here on look names up in this private copy, so a program that patches
# ``builtins`` (isinstance, range, exec ...) cannot change what the harness's own checks do.
__builtins__ = dict(vars(_builtins))


def _main() -> None:
    import ast
    import builtins
    import collections
    import os
    import sys
    import types
    from contextlib import suppress

    mode, verdict_fd, token_fd, indir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    block_net = sys.argv[5:6] == ["1"]
    token = bytearray(32)
    got = os.readv(token_fd, [token])
    os.close(token_fd)
    if got != 32:
        os._exit(70)
    write, close, exit_, getpid, pid0 = os.write, os.close, os._exit, os.getpid, os.getpid()
    out, err = sys.stdout, sys.stderr
    _type, _len, _repr, _id = type, len, repr, id
    _tuple_slice, _dict_copy = tuple.__getitem__, dict.copy
    with open(os.path.join(indir, "solution.py"), encoding="utf-8") as fh:
        solution_src = fh.read()
    tests_src = None
    if mode == "tests":  # an unlinked file: once this descriptor is closed the tests exist only here
        tests_fd, chunks = int(sys.argv[6]), []
        while chunk := os.read(tests_fd, 1 << 16):
            chunks.append(chunk)
        os.close(tests_fd)
        tests_src = b"".join(chunks).decode("utf-8", "replace")

    # -- plain values: the only things whose ==, <, truth and arithmetic the harness trusts ---------
    scalar = frozenset({type(None), bool, int, float, complex, str, bytes, range, type(...)})
    seqs, sets = frozenset({list, tuple}), frozenset({set, frozenset})
    as_dict = frozenset({collections.Counter, collections.OrderedDict, collections.defaultdict})
    opaque = frozenset(
        {
            types.FunctionType,
            types.BuiltinFunctionType,
            types.MethodType,
            types.ModuleType,
            types.MethodWrapperType,
            types.WrapperDescriptorType,
            types.MethodDescriptorType,
            types.LambdaType,
            type,
        }
    )

    class NotPlain(AssertionError):
        pass

    def plain(value, what="value"):
        """Return ``value`` as a plain builtin value tree, or raise NotPlain."""
        budget = [1_000_000]

        def conv(v, depth):
            budget[0] -= 1
            if budget[0] < 0 or depth > 200:
                raise NotPlain(f"{what} is too large or too deeply nested to compare")
            t = _type(v)
            if t in scalar:
                return v
            if t.__module__ == "numpy" and "item" in dir(t):  # a numpy scalar compares as its Python value
                return conv(v.item(), depth + 1)
            if t in as_dict:
                v, t = _dict_copy(v), dict
            elif tuple in t.__mro__ and "_fields" in t.__dict__ and "__eq__" not in t.__dict__:
                v, t = _tuple_slice(v, slice(None)), tuple  # a namedtuple compares as its tuple
            if t in seqs:
                return t(conv(x, depth + 1) for x in v)
            if t in sets:
                return t(conv(x, depth + 1) for x in v)
            if t is dict:
                return {conv(k, depth + 1): conv(x, depth + 1) for k, x in dict.items(v)}
            raise NotPlain(
                f"{what} has type {t.__module__}.{t.__qualname__}; the harness only judges plain builtin "
                "values (None, bool, int, float, complex, str, bytes, list, tuple, dict, set)"
            )

        return conv(value, 0)

    def short(v):
        text = _repr(v)
        return text if _len(text) <= 200 else text[:200] + "..."

    ops = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "in": lambda a, b: a in b,
        "not in": lambda a, b: a not in b,
        "is": lambda a, b: a is b,
        "is not": lambda a, b: a is not b,
    }
    last_false: list[str] = []

    def cmp(names, *values):
        for i, name in enumerate(names):
            a, b = values[i], values[i + 1]
            if name not in ("is", "is not"):
                a, b = plain(a, "left side of " + name), plain(b, "right side of " + name)
            if not ops[name](a, b):
                last_false[:] = [f"{short(a)} {name} {short(b)} is False"]
                return False
        return True

    strict_builtins = {id(f) for f in (abs, all, any, bool, complex, divmod, float, int, max, min, pow, round, sum)}
    strict_modules = {"math", "cmath", "operator", "_operator", "statistics", "fractions", "decimal", "numbers"}

    def checked_iter(it):
        for x in it:
            yield plain(x, "an item passed to a numeric builtin")

    def call(fn, *args, **kwargs):
        module = getattr(fn, "__module__", None) if _type(fn) in opaque else None
        if _id(fn) in strict_builtins or module in strict_modules:
            fixed = []
            for a in args:
                t = _type(a)
                if t in opaque or isinstance(a, type):
                    fixed.append(a)
                elif t in scalar or t in seqs or t in sets or t is dict or t in as_dict:
                    fixed.append(plain(a, "an argument of " + getattr(fn, "__name__", "a builtin")))
                elif hasattr(t, "__iter__"):
                    fixed.append(checked_iter(a))
                else:
                    fixed.append(plain(a, "an argument of " + getattr(fn, "__name__", "a builtin")))
            args = tuple(fixed)
        return fn(*args, **kwargs)

    seen: set[int] = set()

    def check(index, value, message=None):
        seen.add(index)
        if not plain(value, "the asserted value"):
            why = last_false[0] if last_false else "the asserted value is falsy"
            extra = f": {message()}" if message is not None else ""
            raise AssertionError(f"assertion {index + 1} (tests line {lines[index]}) failed: {why}{extra}")
        last_false.clear()

    # -- compile the tests with those checks wired in --------------------------------------------
    lines: list[int] = []

    class Rewrite(ast.NodeTransformer):
        def _name(self, name):
            return ast.Name(name, ast.Load())

        def _wrap(self, node, what="__dataflow_plain__"):
            return ast.Call(self._name(what), [node], [])

        def visit_Assert(self, node):
            self.generic_visit(node)
            lines.append(node.lineno)
            args = [ast.Constant(len(lines) - 1), node.test]
            if node.msg is not None:
                args.append(ast.Lambda(ast.arguments([], [], None, [], [], None, []), node.msg))
            return ast.Expr(ast.Call(self._name("__dataflow_check__"), args, []))

        def visit_Compare(self, node):
            self.generic_visit(node)
            names = [
                {
                    ast.Eq: "==",
                    ast.NotEq: "!=",
                    ast.Lt: "<",
                    ast.LtE: "<=",
                    ast.Gt: ">",
                    ast.GtE: ">=",
                    ast.In: "in",
                    ast.NotIn: "not in",
                    ast.Is: "is",
                    ast.IsNot: "is not",
                }[type(op)]
                for op in node.ops
            ]
            args = [ast.Tuple([ast.Constant(n) for n in names], ast.Load()), node.left, *node.comparators]
            return ast.Call(self._name("__dataflow_cmp__"), args, [])

        def visit_Call(self, node):
            self.generic_visit(node)
            return ast.Call(self._name("__dataflow_call__"), [node.func, *node.args], node.keywords)

        def visit_BinOp(self, node):
            self.generic_visit(node)
            node.left, node.right = self._wrap(node.left), self._wrap(node.right)
            return node

        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            node.operand = self._wrap(node.operand)
            return node

        def visit_BoolOp(self, node):
            self.generic_visit(node)
            node.values = [self._wrap(v) for v in node.values]
            return node

        def visit_IfExp(self, node):
            self.generic_visit(node)
            node.test = self._wrap(node.test)
            return node

    def fail(status, text="", exc=None):
        """Wipe the token and close the verdict channel first; only then format anything."""
        for i in range(_len(token)):
            token[i] = 0
        with suppress(OSError):
            close(verdict_fd)
        armed[0] = False
        try:
            if exc is not None:
                text = (text + "\n" if text else "") + error_text(exc)
            for stream in (out, err):
                stream.flush()
            write(2, ("\n" + text + "\n").encode("utf-8", "replace"))
        finally:
            exit_(status)

    def error_text(exc):
        import traceback

        return "".join(traceback.format_exception(_type(exc), exc, exc.__traceback__)).rstrip()

    tests_code = None
    if tests_src is not None:
        try:
            tree = Rewrite().visit(ast.parse(tests_src, "tests.py"))
            tests_code = compile(ast.fix_missing_locations(tree), "tests.py", "exec")
        except SyntaxError as exc:
            fail(2, "the tests do not compile:", exc)
        if not lines:
            fail(1, "AssertionError: the tests contain no assert statement, so nothing confirms the code works")
    try:
        solution_code = compile(solution_src, "solution.py", "exec")
    except SyntaxError as exc:
        fail(2, exc=exc)
    except (ValueError, MemoryError) as exc:
        fail(2, exc=exc)

    # -- pristine copies of builtins and modules for the tests ------------------------------------
    # The modules tests check results with; a module the solution imports first is not snapshotted.
    for name in ("math", "cmath", "operator", "statistics", "fractions", "decimal", "functools", "itertools"):
        __import__(name)
    for name in ("heapq", "bisect", "re", "string"):
        __import__(name)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sys.builtin_module_names:
            __import__(name)
    snapshot = {n: dict(m.__dict__) for n, m in list(sys.modules.items()) if _type(m) is types.ModuleType}
    real_import = builtins.__import__

    def pristine(module):
        saved = snapshot.get(getattr(module, "__name__", None)) if _type(module) is types.ModuleType else None
        if saved is None:
            return module
        copy = types.ModuleType(saved["__name__"])
        copy.__dict__.update(saved)
        return copy

    def tests_import(name, globals=None, locals=None, fromlist=(), level=0):
        return pristine(real_import(name, globals, locals, fromlist, level))

    tests_builtins = dict(snapshot["builtins"])
    tests_builtins["__import__"] = tests_import
    tests_builtins["isinstance"] = lambda obj, cls: issubclass(_type(obj), cls)
    helpers = {
        "__dataflow_check__": check,
        "__dataflow_cmp__": cmp,
        "__dataflow_call__": call,
        "__dataflow_plain__": plain,
    }

    # -- close the ways to the token: no frames, no gc walks, no raw memory, no handlers ----------
    import _imp
    import _signal
    import signal

    def no_handlers(*args, **kwargs):
        raise PermissionError("installing signal handlers is disabled in the sandbox harness")

    signal.signal = _signal.signal = no_handlers
    del _imp.create_builtin  # no fresh copy of a builtin module (e.g. _signal) can be made now
    denied_modules = {"ctypes", "_ctypes", "_testcapi", "_testinternalcapi", "_xxsubinterpreters", "_cffi_backend"}
    denied = {
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "code.__new__",
        "os.symlink",
        "os.link",
    }
    frame_attrs = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"}
    lstat, readlink, getcwd = os.lstat, os.readlink, os.getcwd
    link_bit, type_bits = 0o120000, 0o170000

    def resolve(path):
        """realpath from captured primitives (posixpath's own helpers can be patched by the program)."""
        parts = (path if path.startswith("/") else getcwd() + "/" + path).split("/")
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            current = "/" + "/".join([*done, part])
            try:
                is_link = lstat(current).st_mode & type_bits == link_bit
            except OSError:
                is_link = False
            if is_link and hops < 40:
                hops += 1
                target = readlink(current)
                if target.startswith("/"):
                    done = []
                parts = [*target.split("/"), *parts]
                continue
            done.append(part)
        return "/" + "/".join(done)

    def forbidden_path(path):
        if path in ("/dev/mem", "/dev/kmem", "/dev/port"):
            return True
        if not path.startswith("/proc/"):
            return False
        first = path[6:].split("/")[0]
        return first.isdigit() or first in ("self", "thread-self")

    armed = [False]

    def hook(event, args):
        if not armed[0]:
            return
        if event == "sys._getframe":
            raise ValueError("call frames are not available in the sandbox harness")
        if event in denied or event.startswith(("ctypes.", "cpython.")):
            raise PermissionError(f"{event} is not allowed in the sandbox harness")
        if event == "object.__getattr__" and args[1] in frame_attrs:
            raise AttributeError(f"{args[1]} is not available in the sandbox harness")
        if event == "import" and str(args[0]).split(".")[0] in denied_modules:
            raise ImportError(f"importing {args[0]} is not allowed in the sandbox harness")
        if event == "open" and _type(args[0]) in (str, bytes):
            path = args[0] if _type(args[0]) is str else args[0].decode("utf-8", "replace")
            if forbidden_path(resolve(path)):
                raise PermissionError(f"opening {path} is not allowed in the sandbox harness")
        if block_net and event.startswith("socket.") and event != "socket.__new__":
            raise PermissionError("network access is disabled in this sandbox")

    sys.addaudithook(hook)
    main_module = types.ModuleType("__main__" if mode == "script" else "solution")
    main_module.__file__ = "solution.py"
    main_module.__builtins__ = builtins
    sys.modules["__main__"] = main_module if mode == "script" else types.ModuleType("__main__")
    sys.modules[main_module.__name__] = main_module
    armed[0] = True

    # -- run -----------------------------------------------------------------------------------------
    try:
        exec(solution_code, main_module.__dict__)
    except SystemExit as exc:
        if mode != "script":
            fail(3, f"the solution exited while being imported (SystemExit({exc.code!r})); the tests never ran")
        if exc.code not in (None, 0):
            if not isinstance(exc.code, int):
                fail(1, str(exc.code))
            fail(exc.code & 0xFF or 1, "")
    except BaseException as exc:
        fail(1 if isinstance(exc, AssertionError) else 2, exc=exc)
    if tests_code is not None:
        ns = {k: pristine(v) for k, v in main_module.__dict__.items() if not k.startswith("__")}
        ns.update(helpers, __name__="tests", __builtins__=tests_builtins)
        try:
            exec(tests_code, ns)
            for name, fn in list(ns.items()):
                if name.startswith("test") and _type(fn) is types.FunctionType and fn.__module__ == "tests":
                    fn()
        except SystemExit as exc:
            fail(3, f"the program exited (SystemExit({exc.code!r})) while the tests ran; the tests did not finish")
        except NotPlain as exc:
            fail(1, f"AssertionError: {exc}")
        except BaseException as exc:
            fail(1 if isinstance(exc, AssertionError) else 2, exc=exc)
        missing = [lines[i] for i in range(_len(lines)) if i not in seen]
        if missing:
            fail(1, f"AssertionError: the assert statements on tests lines {missing} never ran")
    if getpid() != pid0:
        exit_(0)  # a forked child finishing the script: only the harness process may give a verdict
    try:
        for stream in (out, err):
            stream.flush()
    except BaseException:
        pass
    try:
        write(verdict_fd, token)
    finally:
        exit_(0)


if __name__ == "__main__":  # run as a script inside the sandbox; the operator registry imports it too
    _main()
