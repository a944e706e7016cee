// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! A pickle interpreter that never executes anything.
//!
//! Hand-written because no crate does this well (`serde-pickle` lacks
//! persistent ids, candle's lacks most protocol 4 opcodes; see
//! `shared/reference/crates.md` §3.3). It runs every opcode of protocols
//! 0–5 over a flat object arena, and hands the three places where Python
//! would run code — resolving a global, calling it (REDUCE, NEWOBJ, OBJ,
//! INST) and BUILD — to a [`Host`], which decides from an allow-list what
//! a call *means* (e.g. "rebuild a tensor") without calling anything.
//!
//! Hostile input is bounded: lengths are checked against the bytes that
//! remain before anything is allocated; the stack, memo and arena have
//! caps; all containers live in the arena and refer to each other by index,
//! so nesting never recurses (no stack overflow on drop or build) and
//! shared references cost nothing.

use std::collections::HashMap;
use std::rc::Rc;

/// A pickled value. Containers and objects live in the arena ([`Obj`]) and
/// are referenced by index, so values are small and never nested.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An int that fits in i64.
    Int(i64),
    /// A larger int: little-endian two's complement bytes.
    BigInt(Rc<[u8]>),
    /// A float.
    Float(f64),
    /// A str.
    Str(Rc<str>),
    /// bytes / bytearray.
    Bytes(Rc<[u8]>),
    /// A global the host resolved (a class or function, never imported).
    Global(Rc<(String, String)>),
    /// An arena object.
    Ref(usize),
}

impl Value {
    /// The string, if this is a str.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an int (or bool).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}

/// An arena object.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict (insertion order kept; later duplicates replace earlier ones).
    /// Boxed, like [`Obj::Object`], so that an arena slot stays 32 bytes.
    Dict(Box<Dict>),
    /// A set or frozenset.
    Set(Vec<Value>),
    /// An instance of a class the host accepted as data, never constructed
    /// for real.
    Object(Box<Instance>),
    /// Something the host made (a storage, a tensor, ...), by host-defined id.
    Host(usize),
}

/// An instance of a class the host accepted as data: its class,
/// constructor arguments and BUILD state.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `module.name` of the class.
    pub class: Rc<(String, String)>,
    /// Constructor arguments (a tuple ref), if any.
    pub args: Option<Value>,
    /// BUILD state, if any.
    pub state: Option<Value>,
}

/// A dict's entries in insertion order, with a hash index over the keys so
/// that a pickle with many keys (a state dict of 200k tensors) is read in
/// linear time. Keys compare as [`Value`]s do; NaN floats, which equal
/// nothing, are never found again and simply append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict {
    entries: Vec<(Value, Value)>,
    index: HashMap<Key, usize>,
}

/// A hashable stand-in for a [`Value`] used as a dict key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Rc<[u8]>),
    Float(u64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Global(Rc<(String, String)>),
    Ref(usize),
}

impl Key {
    fn of(v: &Value) -> Option<Key> {
        Some(match v {
            Value::None => Key::None,
            Value::Bool(b) => Key::Bool(*b),
            Value::Int(i) => Key::Int(*i),
            Value::BigInt(b) => Key::BigInt(b.clone()),
            Value::Float(f) if f.is_nan() => return None,
            // 0.0 == -0.0, so they share a key.
            Value::Float(f) => Key::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::Str(s) => Key::Str(s.clone()),
            Value::Bytes(b) => Key::Bytes(b.clone()),
            Value::Global(g) => Key::Global(g.clone()),
            Value::Ref(i) => Key::Ref(*i),
        })
    }
}

impl Dict {
    /// Sets `key` to `value`, replacing an equal key's value in place.
    pub fn insert(&mut self, key: Value, value: Value) {
        match Key::of(&key) {
            Some(k) => match self.index.get(&k) {
                Some(&i) => {
                    if let Some(slot) = self.entries.get_mut(i) {
                        slot.1 = value;
                    }
                }
                None => {
                    self.index.insert(k, self.entries.len());
                    self.entries.push((key, value));
                }
            },
            None => self.entries.push((key, value)),
        }
    }

    /// The entries in insertion order.
    pub fn entries(&self) -> &[(Value, Value)] {
        &self.entries
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the dict has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Why a pickle could not be interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset of the opcode, within the pickle.
    pub offset: u64,
    /// What went wrong.
    pub kind: PickleErrorKind,
    /// Details.
    pub detail: String,
}

/// Classes of pickle errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickleErrorKind {
    /// Malformed stream.
    Malformed,
    /// A global outside the allow-list.
    Forbidden,
    /// A size cap was hit.
    Limit,
    /// Valid pickle, but content modelconv does not handle.
    Unsupported,
    /// A persistent id names missing data.
    MissingData,
}

impl PickleError {
    /// A malformed-stream error.
    pub fn malformed(detail: impl Into<String>) -> Self {
        PickleError {
            offset: 0,
            kind: PickleErrorKind::Malformed,
            detail: detail.into(),
        }
    }

    /// An error of `kind`.
    pub fn new(kind: PickleErrorKind, detail: impl Into<String>) -> Self {
        PickleError {
            offset: 0,
            kind,
            detail: detail.into(),
        }
    }
}

/// Result of interpreter operations.
pub type PResult<T> = Result<T, PickleError>;

/// What the interpreter asks its host.
pub trait Host {
    /// GLOBAL / STACK_GLOBAL / INST: what `module.name` is. Return
    /// [`Value::Global`] for classes/functions the host understands, or an
    /// error (typically [`PickleErrorKind::Forbidden`]).
    fn global(&mut self, vm: &mut Vm, module: &str, name: &str) -> PResult<Value>;
    /// REDUCE / NEWOBJ / OBJ / INST: the meaning of `callable(*args)`;
    /// `args` is a tuple ref.
    fn call(&mut self, vm: &mut Vm, callable: &Value, args: Value) -> PResult<Value>;
    /// BINPERSID / PERSID: the object a persistent id stands for.
    fn persistent_load(&mut self, vm: &mut Vm, pid: Value) -> PResult<Value>;
    /// BUILD: apply `state` to `obj`. The default stores it in an
    /// [`Obj::Object`] and updates dicts; anything else is malformed.
    fn build(&mut self, vm: &mut Vm, obj: &Value, state: Value) -> PResult<()> {
        vm.default_build(obj, state)
    }
}

/// Interpreter limits. `Limits::default()` documents the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum stack length. Default 1 Mi values.
    pub max_stack: usize,
    /// Maximum MARK nesting. Default 64 Ki.
    pub max_marks: usize,
    /// Maximum memo entries. Default 4 Mi.
    pub max_memo: usize,
    /// Maximum arena objects. Default 8 Mi.
    pub max_objects: usize,
    /// Maximum values stored in containers in total. Default 32 Mi.
    pub max_cells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1 << 20,
            max_marks: 1 << 16,
            max_memo: 1 << 22,
            max_objects: 1 << 23,
            max_cells: 1 << 25,
        }
    }
}

/// Arena objects in fixed-size chunks: growing never copies what is there
/// (a `Vec` would hold the old and the doubled buffer at once, and a state
/// dict of 200k tensors makes a million objects).
#[derive(Debug, Default)]
pub struct Arena {
    chunks: Vec<Vec<Obj>>,
    len: usize,
}

const ARENA_CHUNK: usize = 1 << 14;

impl Arena {
    /// The object at `i`.
    pub fn get(&self, i: usize) -> Option<&Obj> {
        self.chunks.get(i / ARENA_CHUNK)?.get(i % ARENA_CHUNK)
    }

    /// The object at `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Obj> {
        self.chunks
            .get_mut(i / ARENA_CHUNK)?
            .get_mut(i % ARENA_CHUNK)
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `obj`; returns its index.
    fn push(&mut self, obj: Obj) -> usize {
        match self.chunks.last_mut() {
            Some(c) if c.len() < ARENA_CHUNK => c.push(obj),
            _ => {
                let mut c = Vec::with_capacity(ARENA_CHUNK);
                c.push(obj);
                self.chunks.push(c);
            }
        }
        self.len += 1;
        self.len - 1
    }
}

/// The interpreter state: arena, stack, memo.
pub struct Vm {
    /// All containers and objects.
    pub arena: Arena,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// What the host made of each global, by module then name: a state
    /// dict names `_rebuild_tensor_v2` once per tensor, resolved once here.
    globals: HashMap<String, HashMap<String, Value>>,
    /// The empty tuple, shared as in CPython (tuples are immutable).
    empty_tuple: Option<Value>,
    cells: usize,
    limits: Limits,
}

fn limit(what: &str, n: usize) -> PickleError {
    PickleError::new(
        PickleErrorKind::Limit,
        format!("{what} exceeds the limit of {n}"),
    )
}

impl Vm {
    /// A fresh interpreter.
    pub fn new(limits: Limits) -> Self {
        Vm {
            arena: Arena::default(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            globals: HashMap::new(),
            empty_tuple: None,
            cells: 0,
            limits,
        }
    }

    /// The global `module.name`, asking the host the first time only.
    fn global(&mut self, host: &mut dyn Host, module: &str, name: &str) -> PResult<Value> {
        if let Some(v) = self.globals.get(module).and_then(|m| m.get(name)) {
            return Ok(v.clone());
        }
        let v = host.global(self, module, name)?;
        self.globals
            .entry(module.to_string())
            .or_default()
            .insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// The shared empty tuple.
    fn empty_tuple(&mut self) -> PResult<Value> {
        match &self.empty_tuple {
            Some(v) => Ok(v.clone()),
            None => {
                let v = self.tuple(Vec::new())?;
                self.empty_tuple = Some(v.clone());
                Ok(v)
            }
        }
    }

    /// Adds an object to the arena.
    pub fn alloc(&mut self, obj: Obj) -> PResult<Value> {
        if self.arena.len() >= self.limits.max_objects {
            return Err(limit("object count", self.limits.max_objects));
        }
        self.count_cells(match &obj {
            Obj::Tuple(v) | Obj::List(v) | Obj::Set(v) => v.len(),
            Obj::Dict(v) => v.len() * 2,
            _ => 1,
        })?;
        Ok(Value::Ref(self.arena.push(obj)))
    }

    fn count_cells(&mut self, n: usize) -> PResult<()> {
        self.cells = self.cells.saturating_add(n);
        if self.cells > self.limits.max_cells {
            return Err(limit("total container size", self.limits.max_cells));
        }
        Ok(())
    }

    /// The arena object `v` refers to, if it is a ref.
    pub fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Ref(i) => self.arena.get(*i),
            _ => None,
        }
    }

    /// The items of a tuple or list value.
    pub fn seq(&self, v: &Value) -> Option<&[Value]> {
        match self.obj(v)? {
            Obj::Tuple(t) | Obj::List(t) => Some(t),
            _ => None,
        }
    }

    /// The entries of a dict value.
    pub fn dict(&self, v: &Value) -> Option<&[(Value, Value)]> {
        match self.obj(v)? {
            Obj::Dict(d) => Some(d.entries()),
            _ => None,
        }
    }

    /// Makes a tuple.
    pub fn tuple(&mut self, items: Vec<Value>) -> PResult<Value> {
        self.alloc(Obj::Tuple(items))
    }

    fn push(&mut self, v: Value) -> PResult<()> {
        if self.stack.len() >= self.limits.max_stack {
            return Err(limit("stack depth", self.limits.max_stack));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> PResult<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(PickleError::malformed("pop across a MARK"));
        }
        self.stack
            .pop()
            .ok_or_else(|| PickleError::malformed("stack underflow"))
    }

    fn top(&mut self) -> PResult<&mut Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(PickleError::malformed("stack top is a MARK"));
        }
        self.stack
            .last_mut()
            .ok_or_else(|| PickleError::malformed("stack underflow"))
    }

    fn pop_mark(&mut self) -> PResult<Vec<Value>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| PickleError::malformed("no MARK on the stack"))?;
        if m > self.stack.len() {
            return Err(PickleError::malformed("MARK above the stack"));
        }
        Ok(self.stack.split_off(m))
    }

    fn memo_put(&mut self, key: u32, v: Value) -> PResult<()> {
        if self.memo.len() >= self.limits.max_memo && !self.memo.contains_key(&key) {
            return Err(limit("memo size", self.limits.max_memo));
        }
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&self, key: u32) -> PResult<Value> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| PickleError::malformed(format!("memo key {key} was never stored")))
    }

    fn append(&mut self, target: &Value, items: Vec<Value>) -> PResult<()> {
        self.count_cells(items.len())?;
        match target {
            Value::Ref(i) => match self.arena.get_mut(*i) {
                Some(Obj::List(l)) => {
                    l.extend(items);
                    Ok(())
                }
                Some(Obj::Set(s)) => {
                    s.extend(items);
                    Ok(())
                }
                _ => Err(PickleError::malformed(
                    "APPEND(S)/ADDITEMS on something that is not a list or set",
                )),
            },
            _ => Err(PickleError::malformed(
                "APPEND(S)/ADDITEMS on something that is not a list or set",
            )),
        }
    }

    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> PResult<()> {
        if !items.len().is_multiple_of(2) {
            return Err(PickleError::malformed(
                "SETITEMS with an odd number of values",
            ));
        }
        self.count_cells(items.len())?;
        let Value::Ref(i) = target else {
            return Err(PickleError::malformed(
                "SETITEM(S) on something that is not a dict",
            ));
        };
        match self.arena.get_mut(*i) {
            Some(Obj::Dict(d)) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.insert(k, v);
                }
                Ok(())
            }
            _ => Err(PickleError::malformed(
                "SETITEM(S) on something that is not a dict",
            )),
        }
    }

    /// BUILD for data objects: stores the state on an [`Obj::Object`], or
    /// merges a dict state into a dict.
    pub fn default_build(&mut self, obj: &Value, state: Value) -> PResult<()> {
        let Value::Ref(i) = obj else {
            return Err(PickleError::malformed(
                "BUILD on a value that is not an object",
            ));
        };
        match self.arena.get(*i) {
            Some(Obj::Object(_)) => {
                if let Some(Obj::Object(o)) = self.arena.get_mut(*i) {
                    o.state = Some(state);
                }
                Ok(())
            }
            Some(Obj::Dict(_)) => {
                let entries: Vec<Value> = self
                    .dict(&state)
                    .ok_or_else(|| PickleError::malformed("BUILD of a dict with a non-dict state"))?
                    .iter()
                    .flat_map(|(k, v)| [k.clone(), v.clone()])
                    .collect();
                self.set_items(obj, entries)
            }
            _ => Err(PickleError::malformed(
                "BUILD on a value that is not an object",
            )),
        }
    }
}

/// A cursor over the pickle bytes.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                PickleError::malformed(format!(
                    "needs {n} bytes but only {} remain",
                    self.data.len() - self.pos
                ))
            })?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| PickleError::malformed("read past the end"))?;
        self.pos = end;
        Ok(s)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
        Ok(a)
    }

    fn byte(&mut self) -> PResult<u8> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A length field: must fit in the remaining bytes.
    fn len_bytes(&mut self, n: u64) -> PResult<&'a [u8]> {
        let n = usize::try_from(n)
            .map_err(|_| PickleError::malformed(format!("length {n} is too large")))?;
        self.take(n)
    }

    fn line(&mut self) -> PResult<&'a [u8]> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| PickleError::malformed("text argument without a newline"))?;
        self.pos += n + 1;
        Ok(rest.get(..n).unwrap_or_default())
    }

    fn line_str(&mut self) -> PResult<&'a str> {
        std::str::from_utf8(self.line()?)
            .map_err(|_| PickleError::malformed("text argument is not UTF-8"))
    }
}

fn utf8(b: &[u8]) -> PResult<Rc<str>> {
    std::str::from_utf8(b)
        .map(Rc::from)
        .map_err(|_| PickleError::malformed("string is not valid UTF-8"))
}

fn long_from_le(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() <= 8 {
        let neg = bytes.last().is_some_and(|b| b & 0x80 != 0);
        let mut a = if neg { [0xffu8; 8] } else { [0u8; 8] };
        a.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
        return Value::Int(i64::from_le_bytes(a));
    }
    Value::BigInt(Rc::from(bytes))
}

fn parse_int_line(s: &str) -> PResult<Value> {
    let t = s.trim().trim_end_matches('L');
    match t {
        "00" => return Ok(Value::Bool(false)),
        "01" => return Ok(Value::Bool(true)),
        _ => {}
    }
    t.parse::<i64>().map(Value::Int).map_err(|_| {
        PickleError::new(
            PickleErrorKind::Unsupported,
            format!("integer '{t}' does not fit in 64 bits"),
        )
    })
}

/// Decodes a protocol-0 `STRING` argument (a quoted Python repr).
fn parse_string_repr(s: &[u8]) -> PResult<Vec<u8>> {
    let (q, body) = match s {
        [q @ (b'\'' | b'"'), body @ .., last] if last == q => (*q, body),
        _ => return Err(PickleError::malformed("STRING argument is not quoted")),
    };
    let _ = q;
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *body
            .get(i + 1)
            .ok_or_else(|| PickleError::malformed("dangling escape in STRING"))?;
        i += 2;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' | b'\'' | b'"' => out.push(e),
            b'x' => {
                let h = body
                    .get(i..i + 2)
                    .ok_or_else(|| PickleError::malformed("short \\x escape"))?;
                let h =
                    std::str::from_utf8(h).map_err(|_| PickleError::malformed("bad \\x escape"))?;
                out.push(
                    u8::from_str_radix(h, 16)
                        .map_err(|_| PickleError::malformed("bad \\x escape"))?,
                );
                i += 2;
            }
            _ => {
                out.push(b'\\');
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// Decodes a protocol-0 `UNICODE` argument (raw-unicode-escape).
fn parse_raw_unicode(s: &[u8]) -> PResult<Rc<str>> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'\\' && matches!(s.get(i + 1), Some(b'u' | b'U')) {
            let n = if s.get(i + 1) == Some(&b'u') { 4 } else { 8 };
            let hex = s
                .get(i + 2..i + 2 + n)
                .ok_or_else(|| PickleError::malformed("short \\u escape"))?;
            let hex =
                std::str::from_utf8(hex).map_err(|_| PickleError::malformed("bad \\u escape"))?;
            let cp = u32::from_str_radix(hex, 16)
                .map_err(|_| PickleError::malformed("bad \\u escape"))?;
            out.push(char::from_u32(cp).ok_or_else(|| PickleError::malformed("bad code point"))?);
            i += 2 + n;
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    Ok(Rc::from(out))
}

/// Runs the pickle that starts at `data[0]` until STOP. Returns the
/// result and the number of bytes consumed (pickles can be concatenated).
pub fn run(data: &[u8], host: &mut dyn Host, vm: &mut Vm) -> PResult<(Value, usize)> {
    let mut r = Reader { data, pos: 0 };
    vm.stack.clear();
    vm.marks.clear();
    vm.memo.clear();
    loop {
        let at = r.pos;
        let step = step(&mut r, host, vm);
        match step {
            Ok(Some(v)) => return Ok((v, r.pos)),
            Ok(None) => {}
            Err(mut e) => {
                e.offset = at as u64;
                return Err(e);
            }
        }
    }
}

/// Executes one opcode; returns the result on STOP.
fn step(r: &mut Reader, host: &mut dyn Host, vm: &mut Vm) -> PResult<Option<Value>> {
    let op = r
        .byte()
        .map_err(|_| PickleError::malformed("pickle ends without STOP"))?;
    match op {
        // Framing and protocol: nothing to do (FRAME lengths are advisory).
        0x80 => {
            let proto = r.byte()?;
            if proto > 5 {
                return Err(PickleError::malformed(format!(
                    "unsupported protocol {proto}"
                )));
            }
        }
        0x95 => {
            // Frame lengths are advisory, but one longer than the data is a lie.
            let n = r.u64()?;
            if n > (r.data.len() - r.pos) as u64 {
                return Err(PickleError::malformed(format!(
                    "FRAME of {n} bytes, but only {} remain",
                    r.data.len() - r.pos
                )));
            }
        }
        b'.' => {
            let v = vm.pop()?;
            return Ok(Some(v));
        }
        // Stack manipulation.
        b'(' => {
            if vm.marks.len() >= vm.limits.max_marks {
                return Err(limit("MARK nesting", vm.limits.max_marks));
            }
            vm.marks.push(vm.stack.len());
        }
        b'0' => {
            if vm.marks.last().is_some_and(|&m| m == vm.stack.len()) {
                vm.marks.pop();
            } else {
                vm.pop()?;
            }
        }
        b'1' => {
            vm.pop_mark()?;
        }
        b'2' => {
            let v = vm.top()?.clone();
            vm.push(v)?;
        }
        // Memo.
        b'p' => {
            let k = r
                .line_str()?
                .trim()
                .parse::<u32>()
                .map_err(|_| PickleError::malformed("bad PUT index"))?;
            let v = vm.top()?.clone();
            vm.memo_put(k, v)?;
        }
        b'q' => {
            let k = u32::from(r.byte()?);
            let v = vm.top()?.clone();
            vm.memo_put(k, v)?;
        }
        b'r' => {
            let k = r.u32()?;
            let v = vm.top()?.clone();
            vm.memo_put(k, v)?;
        }
        0x94 => {
            let k =
                u32::try_from(vm.memo.len()).map_err(|_| limit("memo size", vm.limits.max_memo))?;
            let v = vm.top()?.clone();
            vm.memo_put(k, v)?;
        }
        b'g' => {
            let k = r
                .line_str()?
                .trim()
                .parse::<u32>()
                .map_err(|_| PickleError::malformed("bad GET index"))?;
            let v = vm.memo_get(k)?;
            vm.push(v)?;
        }
        b'h' => {
            let k = u32::from(r.byte()?);
            let v = vm.memo_get(k)?;
            vm.push(v)?;
        }
        b'j' => {
            let k = r.u32()?;
            let v = vm.memo_get(k)?;
            vm.push(v)?;
        }
        // Scalars.
        b'N' => vm.push(Value::None)?,
        0x88 => vm.push(Value::Bool(true))?,
        0x89 => vm.push(Value::Bool(false))?,
        b'I' | b'L' => {
            let v = parse_int_line(r.line_str()?)?;
            vm.push(v)?;
        }
        b'J' => {
            let b = r.array::<4>()?;
            vm.push(Value::Int(i64::from(i32::from_le_bytes(b))))?;
        }
        b'K' => {
            let b = r.byte()?;
            vm.push(Value::Int(i64::from(b)))?;
        }
        b'M' => {
            let v = r.u16()?;
            vm.push(Value::Int(i64::from(v)))?;
        }
        0x8a => {
            let n = r.byte()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(long_from_le(b))?;
        }
        0x8b => {
            let n = r.u32()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(long_from_le(b))?;
        }
        b'F' => {
            let s = r.line_str()?;
            let f = s
                .trim()
                .parse::<f64>()
                .map_err(|_| PickleError::malformed("bad FLOAT"))?;
            vm.push(Value::Float(f))?;
        }
        b'G' => {
            let b = r.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            vm.push(Value::Float(f64::from_be_bytes(a)))?;
        }
        // Strings and bytes.
        b'S' => {
            let raw = parse_string_repr(r.line()?)?;
            // Python 2 str: treat as text when it is UTF-8, else as bytes.
            let v = match String::from_utf8(raw) {
                Ok(s) => Value::Str(Rc::from(s)),
                Err(e) => Value::Bytes(Rc::from(e.into_bytes())),
            };
            vm.push(v)?;
        }
        b'T' => {
            let n = r.u32()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(latin1_or_utf8(b))?;
        }
        b'U' => {
            let n = r.byte()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(latin1_or_utf8(b))?;
        }
        b'V' => {
            let s = parse_raw_unicode(r.line()?)?;
            vm.push(Value::Str(s))?;
        }
        b'X' => {
            let n = r.u32()?;
            let s = utf8(r.len_bytes(u64::from(n))?)?;
            vm.push(Value::Str(s))?;
        }
        0x8c => {
            let n = r.byte()?;
            let s = utf8(r.len_bytes(u64::from(n))?)?;
            vm.push(Value::Str(s))?;
        }
        0x8d => {
            let n = r.u64()?;
            let s = utf8(r.len_bytes(n)?)?;
            vm.push(Value::Str(s))?;
        }
        b'B' => {
            let n = r.u32()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(Value::Bytes(Rc::from(b)))?;
        }
        b'C' => {
            let n = r.byte()?;
            let b = r.len_bytes(u64::from(n))?;
            vm.push(Value::Bytes(Rc::from(b)))?;
        }
        0x8e | 0x96 => {
            let n = r.u64()?;
            let b = r.len_bytes(n)?;
            vm.push(Value::Bytes(Rc::from(b)))?;
        }
        0x97 => {
            return Err(PickleError::new(
                PickleErrorKind::Unsupported,
                "out-of-band buffers (NEXT_BUFFER) are not supported",
            ))
        }
        0x98 => {
            vm.top()?;
        }
        // Containers.
        b')' => {
            let v = vm.empty_tuple()?;
            vm.push(v)?;
        }
        b't' => {
            let items = vm.pop_mark()?;
            let v = vm.tuple(items)?;
            vm.push(v)?;
        }
        0x85..=0x87 => {
            let n = usize::from(op - 0x84);
            if vm.stack.len() < n || vm.marks.last().is_some_and(|&m| m > vm.stack.len() - n) {
                return Err(PickleError::malformed("TUPLE1/2/3 without enough values"));
            }
            let items = vm.stack.split_off(vm.stack.len() - n);
            let v = vm.tuple(items)?;
            vm.push(v)?;
        }
        b']' => {
            let v = vm.alloc(Obj::List(Vec::new()))?;
            vm.push(v)?;
        }
        b'l' => {
            let items = vm.pop_mark()?;
            let v = vm.alloc(Obj::List(items))?;
            vm.push(v)?;
        }
        b'}' => {
            let v = vm.alloc(Obj::Dict(Box::default()))?;
            vm.push(v)?;
        }
        b'd' => {
            let items = vm.pop_mark()?;
            let v = vm.alloc(Obj::Dict(Box::default()))?;
            vm.set_items(&v, items)?;
            vm.push(v)?;
        }
        0x8f => {
            let v = vm.alloc(Obj::Set(Vec::new()))?;
            vm.push(v)?;
        }
        0x91 => {
            let items = vm.pop_mark()?;
            let v = vm.alloc(Obj::Set(items))?;
            vm.push(v)?;
        }
        b'a' => {
            let item = vm.pop()?;
            let target = vm.top()?.clone();
            vm.append(&target, vec![item])?;
        }
        b'e' | 0x90 => {
            let items = vm.pop_mark()?;
            let target = vm.top()?.clone();
            vm.append(&target, items)?;
        }
        b's' => {
            let v = vm.pop()?;
            let k = vm.pop()?;
            let target = vm.top()?.clone();
            vm.set_items(&target, vec![k, v])?;
        }
        b'u' => {
            let items = vm.pop_mark()?;
            let target = vm.top()?.clone();
            vm.set_items(&target, items)?;
        }
        // Globals, calls, objects: decided by the host.
        b'c' => {
            let module = r.line_str()?;
            let name = r.line_str()?;
            let g = vm.global(host, module, name)?;
            vm.push(g)?;
        }
        0x93 => {
            let name = vm.pop()?;
            let module = vm.pop()?;
            let (Some(module), Some(name)) = (module.as_str(), name.as_str()) else {
                return Err(PickleError::malformed("STACK_GLOBAL needs two strings"));
            };
            let (module, name) = (module.to_string(), name.to_string());
            let g = vm.global(host, &module, &name)?;
            vm.push(g)?;
        }
        b'R' => {
            let args = vm.pop()?;
            let callable = vm.pop()?;
            if !matches!(vm.obj(&args), Some(Obj::Tuple(_))) {
                return Err(PickleError::malformed("REDUCE arguments are not a tuple"));
            }
            let v = host.call(vm, &callable, args)?;
            vm.push(v)?;
        }
        0x81 => {
            let args = vm.pop()?;
            let cls = vm.pop()?;
            if !matches!(vm.obj(&args), Some(Obj::Tuple(_))) {
                return Err(PickleError::malformed("NEWOBJ arguments are not a tuple"));
            }
            let v = host.call(vm, &cls, args)?;
            vm.push(v)?;
        }
        0x92 => {
            let kwargs = vm.pop()?;
            let args = vm.pop()?;
            let cls = vm.pop()?;
            if vm.dict(&kwargs).is_some_and(|d| !d.is_empty()) {
                return Err(PickleError::new(
                    PickleErrorKind::Unsupported,
                    "NEWOBJ_EX with keyword arguments",
                ));
            }
            let v = host.call(vm, &cls, args)?;
            vm.push(v)?;
        }
        b'o' => {
            let mut items = vm.pop_mark()?;
            if items.is_empty() {
                return Err(PickleError::malformed("OBJ without a class"));
            }
            let cls = items.remove(0);
            let args = vm.tuple(items)?;
            let v = host.call(vm, &cls, args)?;
            vm.push(v)?;
        }
        b'i' => {
            let module = r.line_str()?.to_string();
            let name = r.line_str()?.to_string();
            let items = vm.pop_mark()?;
            let cls = host.global(vm, &module, &name)?;
            let args = vm.tuple(items)?;
            let v = host.call(vm, &cls, args)?;
            vm.push(v)?;
        }
        b'b' => {
            let state = vm.pop()?;
            let obj = vm.top()?.clone();
            host.build(vm, &obj, state)?;
        }
        b'P' => {
            let pid = Value::Str(Rc::from(r.line_str()?));
            let v = host.persistent_load(vm, pid)?;
            vm.push(v)?;
        }
        b'Q' => {
            let pid = vm.pop()?;
            let v = host.persistent_load(vm, pid)?;
            vm.push(v)?;
        }
        0x82..=0x84 => {
            return Err(PickleError::malformed(
                "extension registry opcodes (EXT1/2/4): the registry is empty",
            ))
        }
        other => {
            return Err(PickleError::malformed(format!(
                "unknown opcode 0x{other:02x}"
            )))
        }
    }
    Ok(None)
}

fn latin1_or_utf8(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::Str(Rc::from(s)),
        Err(_) => Value::Str(Rc::from(
            b.iter().map(|&c| char::from(c)).collect::<String>(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that allows nothing but plain data.
    struct DataOnly;

    impl Host for DataOnly {
        fn global(&mut self, _: &mut Vm, module: &str, name: &str) -> PResult<Value> {
            Err(PickleError::new(
                PickleErrorKind::Forbidden,
                format!("{module}.{name}"),
            ))
        }
        fn call(&mut self, _: &mut Vm, _: &Value, _: Value) -> PResult<Value> {
            Err(PickleError::malformed("call"))
        }
        fn persistent_load(&mut self, _: &mut Vm, pid: Value) -> PResult<Value> {
            Ok(pid)
        }
    }

    fn load(data: &[u8]) -> PResult<(Value, Vm)> {
        let mut vm = Vm::new(Limits::default());
        let (v, _) = run(data, &mut DataOnly, &mut vm)?;
        Ok((v, vm))
    }

    #[test]
    fn protocol2_dict_of_list() -> PResult<()> {
        // pickle.dumps({'a': [1, 2.5, None, True], 'b': 'x'}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88eX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04u.";
        let (v, vm) = load(data)?;
        let d = vm
            .dict(&v)
            .ok_or_else(|| PickleError::malformed("not a dict"))?;
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0.as_str(), Some("a"));
        let list = vm
            .seq(&d[0].1)
            .ok_or_else(|| PickleError::malformed("not a list"))?;
        assert_eq!(
            list,
            &[
                Value::Int(1),
                Value::Float(2.5),
                Value::None,
                Value::Bool(true)
            ]
        );
        assert_eq!(d[1].1.as_str(), Some("x"));
        Ok(())
    }

    #[test]
    fn protocol0_text_opcodes() -> PResult<()> {
        // pickle.dumps((1, 'hi', 2.0, 10**20), protocol=0)
        let data = b"(I1\nVhi\np0\nF2.0\nL100000000000000000000L\ntp1\n.";
        let r = load(data);
        // 10**20 does not fit in i64: a clear Unsupported error.
        assert_eq!(r.err().map(|e| e.kind), Some(PickleErrorKind::Unsupported));
        let (v, vm) = load(b"(I1\nVhi\\u00e9\np0\nF2.0\nS'a\\'b'\np1\ntp2\n.")?;
        let t = vm
            .seq(&v)
            .ok_or_else(|| PickleError::malformed("not a tuple"))?;
        assert_eq!(t[0], Value::Int(1));
        assert_eq!(t[1].as_str(), Some("hi\u{e9}"));
        assert_eq!(t[2], Value::Float(2.0));
        assert_eq!(t[3].as_str(), Some("a'b"));
        Ok(())
    }

    #[test]
    fn long1_and_memo() -> PResult<()> {
        // LONG1 of -2 and of the 10-byte legacy torch magic number.
        let (v, _) = load(b"\x80\x02\x8a\x01\xfe.")?;
        assert_eq!(v, Value::Int(-2));
        let (v, _) = load(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")?;
        assert!(matches!(v, Value::BigInt(ref b) if b.len() == 10));
        let (v, vm) = load(b"\x80\x04]\x94(K\x01h\x00e.")?;
        // A list that contains itself (via the memo) is fine: no recursion.
        let l = vm
            .seq(&v)
            .ok_or_else(|| PickleError::malformed("not a list"))?;
        assert_eq!(l.len(), 2);
        assert_eq!(l[1], v);
        Ok(())
    }

    #[test]
    fn malformed_streams_are_errors() {
        let cases: &[&[u8]] = &[
            b"",                              // no STOP
            b"\x80\x02K\x01",                 // no STOP
            b"\x80\x02\xff.",                 // unknown opcode
            b"\x80\x02h\x05.",                // memo key never stored
            b"\x80\x02]K\x01K\x02s.",         // SETITEM on a list
            b"\x80\x02}K\x01a.",              // APPEND on a dict
            b"\x80\x02B\xff\xff\xff\x7f.",    // BINBYTES longer than the data
            b"\x80\x02\x8b\x00\x00\x00\x80.", // LONG4 claiming 2 GiB
            b"\x80\x02t.",                    // TUPLE without MARK
            b"\x80\x02.",                     // STOP on an empty stack
            b"\x80\x02(.",                    // STOP on a MARK
        ];
        for c in cases {
            let e = load(c).err();
            assert!(e.is_some(), "{c:?} was accepted");
        }
    }

    #[test]
    fn globals_go_to_the_host() {
        let e = load(b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.").err();
        assert_eq!(e.as_ref().map(|e| e.kind), Some(PickleErrorKind::Forbidden));
        assert_eq!(e.map(|e| e.detail), Some("os.system".into()));
        // STACK_GLOBAL
        let e = load(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.").err();
        assert_eq!(e.map(|e| e.detail), Some("builtins.eval".into()));
    }

    #[test]
    fn limits_hold() {
        let mut data = b"\x80\x02K\x01".to_vec();
        data.extend(std::iter::repeat_n(b'2', 2000));
        data.push(b'.');
        let mut vm = Vm::new(Limits {
            max_stack: 1000,
            ..Limits::default()
        });
        let e = run(&data, &mut DataOnly, &mut vm).err();
        assert_eq!(e.map(|e| e.kind), Some(PickleErrorKind::Limit));
        // Deep nesting of lists builds a flat arena (no recursion, no overflow).
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(std::iter::repeat_n(b'a', 99_999));
        deep.push(b'.');
        assert!(load(&deep).is_ok());
    }

    #[test]
    fn a_repeated_dict_key_keeps_its_place_and_takes_the_last_value() -> PResult<()> {
        // {'a': 1, 'b': 2} then SETITEMS 'a': 3 — as dict.update would.
        let data =
            b"\x80\x02}(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02X\x01\x00\x00\x00aK\x03u.";
        let (v, vm) = load(data)?;
        let d = vm
            .dict(&v)
            .ok_or_else(|| PickleError::malformed("not a dict"))?;
        let pairs: Vec<(Option<&str>, Option<i64>)> =
            d.iter().map(|(k, v)| (k.as_str(), v.as_int())).collect();
        assert_eq!(pairs, [(Some("a"), Some(3)), (Some("b"), Some(2))]);
        Ok(())
    }

    #[test]
    fn arena_slots_are_small_and_span_chunks() -> PResult<()> {
        assert_eq!(std::mem::size_of::<Obj>(), 32);
        // A list of 40 000 empty lists: more objects than one arena chunk.
        let mut data = b"\x80\x02](".to_vec();
        data.extend(std::iter::repeat_n(b']', 40_000));
        data.extend_from_slice(b"e.");
        let (v, vm) = load(&data)?;
        let items = vm
            .seq(&v)
            .ok_or_else(|| PickleError::malformed("not a list"))?;
        assert_eq!(items.len(), 40_000);
        assert_eq!(vm.arena.len(), 40_001);
        assert!(matches!(vm.obj(&items[39_999]), Some(Obj::List(l)) if l.is_empty()));
        Ok(())
    }

    /// Counts the globals it is asked to resolve; calls give None.
    struct Counting(usize);

    impl Host for Counting {
        fn global(&mut self, _: &mut Vm, module: &str, name: &str) -> PResult<Value> {
            self.0 += 1;
            Ok(Value::Global(Rc::new((module.into(), name.into()))))
        }
        fn call(&mut self, _: &mut Vm, _: &Value, _: Value) -> PResult<Value> {
            Ok(Value::None)
        }
        fn persistent_load(&mut self, _: &mut Vm, pid: Value) -> PResult<Value> {
            Ok(pid)
        }
    }

    #[test]
    fn a_global_is_resolved_once_and_empty_tuples_are_shared() -> PResult<()> {
        // (OrderedDict(), OrderedDict(), OrderedDict()) with GLOBAL each time.
        let mut data = b"\x80\x02(".to_vec();
        for _ in 0..3 {
            data.extend_from_slice(b"ccollections\nOrderedDict\n)R");
        }
        data.extend_from_slice(b"t.");
        let mut host = Counting(0);
        let mut vm = Vm::new(Limits::default());
        run(&data, &mut host, &mut vm)?;
        assert_eq!(host.0, 1);
        // ((), ()): one arena object for both.
        let (v, vm) = load(b"\x80\x02))\x86.")?;
        let t = vm
            .seq(&v)
            .ok_or_else(|| PickleError::malformed("not a tuple"))?;
        assert_eq!(t[0], t[1]);
        assert_eq!(vm.arena.len(), 2);
        Ok(())
    }
}
