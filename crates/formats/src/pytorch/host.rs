// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! What torch's pickles mean: the allow-list of globals and the calls it
//! permits (tensor and parameter rebuilds, storages, dtypes, ordered dicts,
//! TorchScript and `torch.nn` module objects as plain data).
//!
//! In the spirit of `torch.load(weights_only=True)`: anything outside the
//! allow-list is rejected with an error naming it — or, when inspecting,
//! recorded and flagged — and never imported or called.

use std::collections::BTreeMap;
use std::rc::Rc;

use modelconv_core::DType;

use super::pickle::{Dict, Host, Instance, Obj, PResult, PickleError, PickleErrorKind, Value, Vm};

/// A storage referenced by a persistent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Storage key (`data/<key>` in zip files).
    pub key: String,
    /// Element type of the storage class (`U8` for untyped storages).
    pub dtype: DType,
    /// Declared size in elements of `dtype`.
    pub numel: u64,
}

/// A tensor rebuilt from a storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// Index into [`TorchHost::storages`].
    pub storage: usize,
    /// Element type.
    pub dtype: DType,
    /// Offset into the storage, in elements of `dtype`.
    pub offset: u64,
    /// Shape.
    pub shape: Vec<u64>,
    /// Strides in elements.
    pub stride: Vec<u64>,
}

/// Host-made objects, referenced from the arena as [`Obj::Host`].
#[derive(Debug, Clone, PartialEq)]
pub enum HostObj {
    /// A storage.
    Storage(usize),
    /// A tensor.
    Tensor(TensorRef),
}

/// How a global is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GlobalStatus {
    /// Understood and allowed.
    Allowed,
    /// Outside the allow-list.
    Forbidden,
}

/// Which persistent-id layout to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidStyle {
    /// Zip files and TorchScript: `('storage', cls, key, location, numel)`.
    Zip,
    /// Legacy files: `('storage', cls, key, location, numel, view_metadata)`.
    Legacy,
    /// The pre-0.4 tar format: a tensor key (tensors come from the `tensors`
    /// member, see [`TorchHost::tar_tensors`]), or a module-source tuple
    /// whose first item (the module class) stands for itself.
    Tar,
}

/// The torch host: allow-list, storages and tensors seen so far.
#[derive(Debug)]
pub struct TorchHost {
    /// Storages in first-reference order.
    pub storages: Vec<StorageRef>,
    /// Index into `storages` by key (archives may hold 100k+ storages).
    storage_index: std::collections::HashMap<String, usize>,
    /// Host objects.
    pub objects: Vec<HostObj>,
    /// Every global referenced, with its status.
    pub globals: BTreeMap<String, GlobalStatus>,
    /// Record forbidden globals as opaque instead of failing (inspection).
    pub permissive: bool,
    /// Accept `__torch__.*` classes (TorchScript archives).
    pub torchscript: bool,
    /// Persistent-id layout.
    pub pid_style: PidStyle,
    /// Tensors of a tar-format file by key ([`PidStyle::Tar`]).
    pub tar_tensors: std::collections::HashMap<String, TensorRef>,
}

impl TorchHost {
    /// A strict host for `style` files.
    pub fn new(pid_style: PidStyle, torchscript: bool) -> Self {
        TorchHost {
            storages: Vec::new(),
            storage_index: std::collections::HashMap::new(),
            objects: Vec::new(),
            globals: BTreeMap::new(),
            permissive: false,
            torchscript,
            pid_style,
            tar_tensors: std::collections::HashMap::new(),
        }
    }

    fn host_obj(&mut self, vm: &mut Vm, obj: HostObj) -> PResult<Value> {
        self.objects.push(obj);
        vm.alloc(Obj::Host(self.objects.len() - 1))
    }

    /// The host object `v` refers to.
    pub fn get<'a>(&'a self, vm: &Vm, v: &Value) -> Option<&'a HostObj> {
        match vm.obj(v)? {
            Obj::Host(i) => self.objects.get(*i),
            _ => None,
        }
    }

    fn storage_of(&self, vm: &Vm, v: &Value) -> PResult<usize> {
        match self.get(vm, v) {
            Some(HostObj::Storage(s)) => Ok(*s),
            _ => Err(PickleError::malformed("tensor rebuild without a storage")),
        }
    }

    fn rebuild_tensor(
        &mut self,
        vm: &mut Vm,
        args: &[Value],
        dtype: Option<DType>,
    ) -> PResult<Value> {
        let [storage, offset, size, stride, ..] = args else {
            return Err(PickleError::malformed(
                "tensor rebuild with too few arguments",
            ));
        };
        let storage = self.storage_of(vm, storage)?;
        let offset = nonneg(offset, "storage offset")?;
        let shape = int_list(vm, size, "size")?;
        let stride = int_list(vm, stride, "stride")?;
        if shape.len() != stride.len() {
            return Err(PickleError::malformed(format!(
                "size has {} dimensions but stride has {}",
                shape.len(),
                stride.len()
            )));
        }
        let dtype = match dtype {
            Some(d) => d,
            None => self
                .storages
                .get(storage)
                .map(|s| s.dtype)
                .unwrap_or(DType::U8),
        };
        self.host_obj(
            vm,
            HostObj::Tensor(TensorRef {
                storage,
                dtype,
                offset,
                shape,
                stride,
            }),
        )
    }
}

fn nonneg(v: &Value, what: &str) -> PResult<u64> {
    v.as_int()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| PickleError::malformed(format!("{what} is not a non-negative integer")))
}

fn int_list(vm: &Vm, v: &Value, what: &str) -> PResult<Vec<u64>> {
    let items = vm
        .seq(v)
        .ok_or_else(|| PickleError::malformed(format!("{what} is not a tuple")))?;
    if items.len() > 64 {
        return Err(PickleError::new(
            PickleErrorKind::Limit,
            format!("{what} has more than 64 dimensions"),
        ));
    }
    items.iter().map(|i| nonneg(i, what)).collect()
}

/// The dtype of a `torch.<Name>Storage` class.
pub fn storage_dtype(name: &str) -> Option<Option<DType>> {
    let d = match name {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" | "UntypedStorage" => DType::U8,
        "BoolStorage" => DType::Bool,
        "UInt16Storage" => DType::U16,
        "UInt32Storage" => DType::U32,
        "UInt64Storage" => DType::U64,
        "Float8_e4m3fnStorage" => DType::F8E4M3,
        "Float8_e5m2Storage" => DType::F8E5M2,
        // Known storage classes whose elements modelconv does not convert.
        n if n.ends_with("Storage") => return Some(None),
        _ => return None,
    };
    Some(Some(d))
}

/// The dtype named by a `torch.<name>` dtype global.
pub fn torch_dtype(name: &str) -> Option<Option<DType>> {
    let d = match name {
        "float32" | "float" => DType::F32,
        "float64" | "double" => DType::F64,
        "float16" | "half" => DType::F16,
        "bfloat16" => DType::BF16,
        "int64" | "long" => DType::I64,
        "int32" | "int" => DType::I32,
        "int16" | "short" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "float8_e4m3fn" => DType::F8E4M3,
        "float8_e5m2" => DType::F8E5M2,
        "complex64" | "complex128" | "cfloat" | "cdouble" | "complex32" | "chalf" | "qint8"
        | "quint8" | "qint32" | "quint4x2" | "quint2x4" | "float8_e4m3fnuz" | "float8_e5m2fnuz"
        | "float8_e8m0fnu" | "float4_e2m1fn_x2" | "bits8" | "bits16" | "uint1" | "uint2"
        | "uint3" | "uint4" | "uint5" | "uint6" | "uint7" | "int1" | "int2" | "int3" | "int4"
        | "int5" | "int6" | "int7" => return Some(None),
        _ => return None,
    };
    Some(Some(d))
}

/// Is `module.name` on the allow-list (in TorchScript archives too)?
pub fn is_allowed(module: &str, name: &str, torchscript: bool) -> bool {
    match module {
        "collections" => matches!(name, "OrderedDict" | "Counter"),
        "builtins" | "__builtin__" => matches!(name, "set" | "frozenset" | "bytearray"),
        "_codecs" => name == "encode",
        // All of torch's rebuild functions are known; the ones for content
        // modelconv does not convert (quantized, sparse, ...) give a clear
        // "not supported" error when called.
        "torch._utils" => name.starts_with("_rebuild_"),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            storage_dtype(name).is_some()
                || torch_dtype(name).is_some()
                || matches!(name, "Size" | "device" | "strided")
                // Tensor type classes (torch.FloatTensor, ...), as weights_only allows.
                || name.ends_with("Tensor")
                || name.starts_with("per_tensor_")
                || name.starts_with("per_channel_")
        }
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage"),
        "torch.serialization" => name == "_get_layout",
        "torch.nn.parameter" => matches!(name, "Parameter"),
        "torch.jit._pickle" => {
            torchscript
                && matches!(
                    name,
                    "restore_type_tag"
                        | "build_intlist"
                        | "build_doublelist"
                        | "build_boollist"
                        | "build_tensorlist"
                )
        }
        m if m.starts_with("torch.nn.modules.") => true,
        m if m == "__torch__" || m.starts_with("__torch__.") => torchscript,
        _ => false,
    }
}

impl Host for TorchHost {
    fn global(&mut self, _vm: &mut Vm, module: &str, name: &str) -> PResult<Value> {
        let full = format!("{module}.{name}");
        let allowed = is_allowed(module, name, self.torchscript);
        self.globals.insert(
            full.clone(),
            if allowed {
                GlobalStatus::Allowed
            } else {
                GlobalStatus::Forbidden
            },
        );
        if !allowed && !self.permissive {
            return Err(PickleError::new(PickleErrorKind::Forbidden, full));
        }
        Ok(Value::Global(Rc::new((
            module.to_string(),
            name.to_string(),
        ))))
    }

    fn call(&mut self, vm: &mut Vm, callable: &Value, args: Value) -> PResult<Value> {
        let Value::Global(g) = callable else {
            return Err(PickleError::malformed(
                "call of something that is not a global",
            ));
        };
        let (module, name) = (g.0.as_str(), g.1.as_str());
        let argv: Vec<Value> = vm.seq(&args).map(<[Value]>::to_vec).unwrap_or_default();
        if !is_allowed(module, name, self.torchscript) {
            // Only reachable in permissive mode: record, never call.
            return vm.alloc(Obj::Object(Box::new(Instance {
                class: Rc::clone(g),
                args: Some(args),
                state: None,
            })));
        }
        match (module, name) {
            ("collections", "OrderedDict" | "Counter") => {
                let d = vm.alloc(Obj::Dict(Box::default()))?;
                if let Some(pairs) = argv.first().and_then(|a| vm.seq(a)).map(<[Value]>::to_vec) {
                    let mut entries = Dict::default();
                    for p in pairs {
                        match vm.seq(&p) {
                            Some([k, v]) => entries.insert(k.clone(), v.clone()),
                            _ => {
                                return Err(PickleError::malformed(
                                    "OrderedDict argument is not a list of pairs",
                                ))
                            }
                        }
                    }
                    if let Value::Ref(i) = d {
                        if let Some(Obj::Dict(slot)) = vm.arena.get_mut(i) {
                            **slot = entries;
                        }
                    }
                }
                Ok(d)
            }
            ("builtins" | "__builtin__", "set" | "frozenset") => {
                let items = argv
                    .first()
                    .and_then(|a| vm.seq(a))
                    .map(<[Value]>::to_vec)
                    .unwrap_or_default();
                vm.alloc(Obj::Set(items))
            }
            ("builtins" | "__builtin__", "bytearray") | ("_codecs", "encode") => match argv.first()
            {
                Some(Value::Bytes(b)) => Ok(Value::Bytes(Rc::clone(b))),
                Some(Value::Str(s)) => {
                    // _codecs.encode(str, 'latin1') is how protocol 2 pickles bytes.
                    let bytes: Option<Vec<u8>> =
                        s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                    bytes.map(|b| Value::Bytes(Rc::from(b))).ok_or_else(|| {
                        PickleError::malformed("bytes encoded with non-latin-1 characters")
                    })
                }
                None => Ok(Value::Bytes(Rc::from(Vec::new()))),
                _ => Err(PickleError::malformed(
                    "bytes from a value that is not a string",
                )),
            },
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => {
                self.rebuild_tensor(vm, &argv, None)
            }
            ("torch._utils", "_rebuild_tensor_v3") => {
                let dtype = match argv.get(6) {
                    Some(Value::Global(d)) if d.0 == "torch" => match torch_dtype(&d.1) {
                        Some(Some(d)) => d,
                        Some(None) => {
                            return Err(PickleError::new(
                                PickleErrorKind::Unsupported,
                                format!("tensors of dtype torch.{}", d.1),
                            ))
                        }
                        None => {
                            return Err(PickleError::malformed(format!(
                                "torch.{} is not a dtype",
                                d.1
                            )))
                        }
                    },
                    _ => return Err(PickleError::malformed("_rebuild_tensor_v3 without a dtype")),
                };
                self.rebuild_tensor(vm, &argv, Some(dtype))
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => argv
                .first()
                .cloned()
                .ok_or_else(|| PickleError::malformed("_rebuild_parameter without data")),
            ("torch._tensor", "_rebuild_from_type_v2") => {
                let (Some(func), Some(inner)) = (argv.first(), argv.get(2)) else {
                    return Err(PickleError::malformed(
                        "_rebuild_from_type_v2 with too few arguments",
                    ));
                };
                let func = func.clone();
                let inner = inner.clone();
                self.call(vm, &func, inner)
            }
            ("torch", "Size") | ("torch.jit._pickle", _) => {
                Ok(argv.into_iter().next().unwrap_or(Value::None))
            }
            ("torch", "device") | ("torch.serialization", "_get_layout") => {
                Ok(argv.into_iter().next().unwrap_or(Value::None))
            }
            ("torch.nn.parameter", "Parameter") => {
                Ok(argv.into_iter().next().unwrap_or(Value::None))
            }
            _ => {
                // Classes accepted as plain data (TorchScript modules,
                // torch.nn modules): an object whose state BUILD fills in.
                if module.starts_with("__torch__") || module.starts_with("torch.nn.modules.") {
                    return vm.alloc(Obj::Object(Box::new(Instance {
                        class: Rc::clone(g),
                        args: Some(args),
                        state: None,
                    })));
                }
                let what = match name {
                    "_rebuild_qtensor" => "quantized tensors",
                    n if n.contains("sparse") => "sparse tensors",
                    n if n.contains("meta") => "meta tensors without data",
                    _ => "this content",
                };
                Err(PickleError::new(
                    PickleErrorKind::Unsupported,
                    format!("{what} ({module}.{name}) are not supported"),
                ))
            }
        }
    }

    fn persistent_load(&mut self, vm: &mut Vm, pid: Value) -> PResult<Value> {
        if self.pid_style == PidStyle::Tar {
            if let Some(first) = vm.seq(&pid).and_then(|t| t.first().cloned()) {
                return Ok(first);
            }
            let key = match &pid {
                Value::Str(s) => s.to_string(),
                Value::Int(i) => i.to_string(),
                _ => {
                    return Err(PickleError::malformed(
                        "tar persistent id is not a tensor key",
                    ))
                }
            };
            let t = self.tar_tensors.get(&key).cloned().ok_or_else(|| {
                PickleError::new(
                    PickleErrorKind::MissingData,
                    format!("tensor key '{key}' is not in the tensors member"),
                )
            })?;
            return self.host_obj(vm, HostObj::Tensor(t));
        }
        let items = vm
            .seq(&pid)
            .map(<[Value]>::to_vec)
            .ok_or_else(|| PickleError::malformed("persistent id is not a tuple"))?;
        let expected = if self.pid_style == PidStyle::Legacy {
            6
        } else {
            5
        };
        let (class, key, numel, view) = match items.as_slice() {
            [tag, class, key, _location, numel] if expected == 5 && tag.as_str() == Some("storage") => {
                (class, key, numel, None)
            }
            [tag, class, key, _location, numel, view]
                if expected == 6 && tag.as_str() == Some("storage") =>
            {
                (class, key, numel, Some(view))
            }
            _ => {
                return Err(PickleError::malformed(format!(
                    "persistent id is not a {expected}-tuple ('storage', class, key, location, numel{})",
                    if expected == 6 { ", view" } else { "" }
                )))
            }
        };
        let dtype = match class {
            Value::Global(g) => match storage_dtype(&g.1) {
                Some(Some(d)) => d,
                Some(None) => {
                    return Err(PickleError::new(
                        PickleErrorKind::Unsupported,
                        format!("storage class {}.{} is not supported", g.0, g.1),
                    ))
                }
                None => {
                    return Err(PickleError::malformed(format!(
                        "{}.{} is not a storage class",
                        g.0, g.1
                    )))
                }
            },
            _ => {
                return Err(PickleError::malformed(
                    "persistent id without a storage class",
                ))
            }
        };
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => return Err(PickleError::malformed("storage key is not a string")),
        };
        let numel = nonneg(numel, "storage size")?;
        if view.is_some_and(|v| *v != Value::None) {
            return Err(PickleError::new(
                PickleErrorKind::Unsupported,
                "legacy storage views",
            ));
        }
        let idx = match self.storage_index.get(&key).copied() {
            Some(i) => {
                if self
                    .storages
                    .get(i)
                    .is_some_and(|s| s.dtype != dtype || s.numel != numel)
                {
                    return Err(PickleError::malformed(format!(
                        "storage '{key}' is declared twice with different types or sizes"
                    )));
                }
                i
            }
            None => {
                self.storage_index.insert(key.clone(), self.storages.len());
                self.storages.push(StorageRef { key, dtype, numel });
                self.storages.len() - 1
            }
        };
        self.host_obj(vm, HostObj::Storage(idx))
    }
}
