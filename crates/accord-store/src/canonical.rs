//! RFC 8785 canonical JSON written straight from `Serialize`, without building a
//! `serde_json::Value` tree: the log's payload format, on every append's path.
//!
//! The output is byte for byte what `chain::canonical_json_via_value` writes (serialise to
//! a `Value`, then sort and print), which the tests check on real events and on arbitrary
//! JSON. An object is written as its entries (raw key, then value) at the tail of the one
//! output buffer; when the object ends, its entries are sorted by key (UTF-16 code units,
//! the last of equal keys winning, as a `Value` map keeps it) and rewritten in place.
//! Nested objects finish before their parent sorts, so one buffer, one stack of entry
//! positions and one scratch copy serve the whole document: no allocation per object.
//!
//! The rare shapes whose `Value` form needs serde_json's own formatting (a float used as a
//! map key, serde_json's raw-value token) fall back to the `Value` path.

use serde::ser::{self, Serialize};

use crate::chain::{
    MAX_SAFE_INTEGER, is_plain_ascii, needs_escape, write_f64_finite, write_str, write_u64,
};

/// An error while writing: either the value cannot be JSON, or a shape that only the
/// `Value` path formats exactly.
#[derive(Debug)]
pub(crate) enum CanonError {
    Fallback,
    Msg(String),
}

impl std::fmt::Display for CanonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CanonError::Fallback => f.write_str("needs the Value path"),
            CanonError::Msg(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CanonError {}

impl ser::Error for CanonError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonError::Msg(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, CanonError>;

/// One object entry, as positions in the output: the raw key is `key..key_end`, the
/// value's canonical bytes `key_end..end`. `prefix` is the key's first 8 bytes as a
/// big-endian integer, zero-padded. For plain keys (ASCII with nothing to escape, so no
/// zero byte and UTF-16 order is byte order) comparing prefixes orders keys as their bytes
/// do wherever the prefixes differ: a padding zero sorts below every key byte, as a
/// shorter key sorts before a longer one it begins. Most comparisons of a sort are then
/// one integer comparison.
#[derive(Clone, Copy)]
struct Slot {
    key: usize,
    key_end: usize,
    end: usize,
    prefix: u64,
}

fn prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

/// The writer's state: the output, the entries of the objects still open, and scratch
/// space for sorting one object.
pub(crate) struct Writer {
    out: Vec<u8>,
    slots: Vec<Slot>,
    scratch: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer {
            out: Vec::with_capacity(512),
            slots: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Writes `value` as canonical JSON and returns it, keeping the buffers for the next.
    pub(crate) fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<String> {
        self.out.clear();
        self.slots.clear();
        value.serialize(&mut *self)?;
        // INVARIANT: only UTF-8 is written (JSON text from `str`s and ASCII).
        String::from_utf8(self.out.clone()).map_err(|e| CanonError::Msg(e.to_string()))
    }

    fn int(&mut self, negative: bool, magnitude: u128) -> Result<()> {
        // As a `Value`: a u64 or i64 number, else out of range; past 2^53 it is written
        // as the double it rounds to (I-JSON).
        if (!negative && magnitude > u128::from(u64::MAX))
            || (negative && magnitude > u128::from(i64::MIN.unsigned_abs()))
        {
            return Err(CanonError::Msg("number out of range".into()));
        }
        if magnitude <= u128::from(MAX_SAFE_INTEGER) {
            if negative {
                self.out.push(b'-');
            }
            write_u64(&mut self.out, magnitude as u64);
        } else {
            let f = if negative {
                -((magnitude as u64) as f64)
            } else {
                (magnitude as u64) as f64
            };
            write_f64_finite(&mut self.out, f);
        }
        Ok(())
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            write_f64_finite(&mut self.out, f);
        } else {
            // A `Value` holds a non-finite float as null.
            self.out.extend_from_slice(b"null");
        }
    }

    /// Starts an object at the end of the output.
    fn open(&mut self) -> Object<'_> {
        Object {
            start: self.out.len(),
            first_slot: self.slots.len(),
            w: self,
        }
    }
}

/// An object being written; [`Object::close`] sorts its entries into place.
pub(crate) struct Object<'a> {
    w: &'a mut Writer,
    start: usize,
    first_slot: usize,
}

impl<'a> Object<'a> {
    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let key_start = self.w.out.len();
        self.w.out.extend_from_slice(key.as_bytes());
        self.value_after_key(key_start, value)
    }

    fn value_after_key<T: Serialize + ?Sized>(&mut self, key: usize, value: &T) -> Result<()> {
        let key_end = self.w.out.len();
        let prefix = prefix(&self.w.out[key..key_end]);
        value.serialize(&mut *self.w)?;
        self.w.slots.push(Slot {
            key,
            key_end,
            end: self.w.out.len(),
            prefix,
        });
        Ok(())
    }

    /// Sorts the entries written since the object opened and rewrites them in place as
    /// `{"key":value,...}`; hands the writer back.
    fn close(self) -> &'a mut Writer {
        let start = self.start;
        let Writer {
            out,
            slots,
            scratch,
        } = &mut *self.w;
        let mine = &mut slots[self.first_slot..];
        scratch.clear();
        scratch.extend_from_slice(&out[start..]);
        out.truncate(start);
        let scratch = &*scratch;
        let key = |s: &Slot| &scratch[s.key - start..s.key_end - start];
        // Nearly every object's keys are plain: sorted by prefix, then by the whole key
        // where prefixes tie, and written without a check per key. A stable sort keeps
        // equal keys in the order written; the last one wins.
        let plain = mine.iter().all(|s| is_plain_ascii(key(s)));
        if plain {
            mine.sort_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| key(a).cmp(key(b))));
        } else if mine.iter().all(|s| key(s).is_ascii()) {
            mine.sort_by(|a, b| key(a).cmp(key(b)));
        } else {
            mine.sort_by(|a, b| utf8(key(a)).encode_utf16().cmp(utf8(key(b)).encode_utf16()));
        }
        out.push(b'{');
        let mut first = true;
        for (i, s) in mine.iter().enumerate() {
            if mine
                .get(i + 1)
                .is_some_and(|next| next.prefix == s.prefix && key(next) == key(s))
            {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            // A key of plain bytes goes out as it is, as in `write_str`; UTF-8 beyond
            // ASCII without quote, backslash or control character does too, without
            // checking it as UTF-8 first.
            let k = key(s);
            if plain || !needs_escape(k) {
                out.push(b'"');
                out.extend_from_slice(k);
                out.push(b'"');
            } else {
                write_str(out, utf8(k));
            }
            out.push(b':');
            out.extend_from_slice(&scratch[s.key_end - start..s.end - start]);
        }
        out.push(b'}');
        slots.truncate(self.first_slot);
        self.w
    }
}

/// `fmt::Write` into the output buffer (UTF-8, as `String` writes it).
struct Utf8Out<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Out<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn write_char(&mut self, c: char) -> std::fmt::Result {
        match u8::try_from(c) {
            Ok(b) if b.is_ascii() => self.0.push(b),
            _ => self
                .0
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
        Ok(())
    }
}

/// INVARIANT: keys are copied from `str`s, so their bytes are UTF-8.
fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// serde_json's token for a raw value; only its `Value` path knows what to do with it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = CanonError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.int(v < 0, u128::from(v.unsigned_abs()))
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        self.int(v < 0, v.unsigned_abs())
    }
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.int(false, u128::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        self.int(false, v)
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        self.float(f64::from(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        write_str(&mut self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        write_str(&mut self.out, v);
        Ok(())
    }
    /// What serde's default does (`serialize_str(&value.to_string())`) without the
    /// `String`: the text is formatted straight into the output and escaped afterwards
    /// in the rare case it needs it. Timestamps come this way, one or more per event.
    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        use std::fmt::Write as _;
        let quote = self.out.len();
        self.out.push(b'"');
        write!(Utf8Out(&mut self.out), "{value}")
            .map_err(|_| CanonError::Msg("a value's Display failed".into()))?;
        if needs_escape(&self.out[quote + 1..]) {
            let text = self.out.split_off(quote + 1);
            self.out.truncate(quote);
            // INVARIANT: only `str`s and `char`s were written, so the bytes are UTF-8.
            write_str(&mut self.out, utf8(&text));
        } else {
            self.out.push(b'"');
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.out.push(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_u64(&mut self.out, u64::from(*b));
        }
        self.out.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        if name == RAW_VALUE_TOKEN {
            return Err(CanonError::Fallback);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        // `{variant: value}`: one key, nothing to sort.
        self.out.push(b'{');
        write_str(&mut self.out, variant);
        self.out.push(b':');
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        self.out.push(b'[');
        Ok(Array {
            w: self,
            first: true,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>> {
        self.out.push(b'{');
        write_str(&mut self.out, variant);
        self.out.extend_from_slice(b":[");
        Ok(Array {
            w: self,
            first: true,
            variant: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>> {
        Ok(Map {
            object: self.open(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'a>> {
        Ok(self.open())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>> {
        // `{variant: {…}}`: the outer brace closes in `SerializeStructVariant::end`.
        self.out.push(b'{');
        write_str(&mut self.out, variant);
        self.out.push(b':');
        Ok(self.open())
    }
}

/// An array (or a tuple variant's `{variant: [...]}`) being written.
pub(crate) struct Array<'a> {
    w: &'a mut Writer,
    first: bool,
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.w.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.w)
    }

    fn finish(self) {
        self.w.out.push(b']');
        if self.variant {
            self.w.out.push(b'}');
        }
    }
}

/// The four ways serde writes a sequence all end up in [`Array`].
macro_rules! array_serializer {
    ($trait:ident, $element:ident) => {
        impl ser::$trait for Array<'_> {
            type Ok = ();
            type Error = CanonError;
            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }
            fn end(self) -> Result<()> {
                self.finish();
                Ok(())
            }
        }
    };
}

array_serializer!(SerializeSeq, serialize_element);
array_serializer!(SerializeTuple, serialize_element);
array_serializer!(SerializeTupleStruct, serialize_field);
array_serializer!(SerializeTupleVariant, serialize_field);

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.entry(key, value)
    }
    fn end(self) -> Result<()> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.entry(key, value)
    }
    fn end(self) -> Result<()> {
        // The inner object, then the `{variant: …}` around it.
        self.close().out.push(b'}');
        Ok(())
    }
}

/// A map being written: keys go through [`KeyWriter`], which accepts what serde_json
/// accepts as a map key.
pub(crate) struct Map<'a> {
    object: Object<'a>,
    /// Where the pending key's raw bytes start.
    key: Option<usize>,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = CanonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let start = self.object.w.out.len();
        key.serialize(KeyWriter {
            out: &mut self.object.w.out,
        })?;
        self.key = Some(start);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| CanonError::Msg("map value without a key".into()))?;
        self.object.value_after_key(key, value)
    }
    fn end(self) -> Result<()> {
        self.object.close();
        Ok(())
    }
}

/// Writes a map key's raw text, as serde_json's `Value` map would hold it.
struct KeyWriter<'a> {
    out: &'a mut Vec<u8>,
}

fn not_a_key<T>() -> Result<T> {
    Err(CanonError::Msg("key must be a string".into()))
}

impl KeyWriter<'_> {
    fn text(self, s: &str) -> Result<()> {
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn number(self, negative: bool, magnitude: u128) -> Result<()> {
        if negative {
            self.out.push(b'-');
        }
        match u64::try_from(magnitude) {
            Ok(m) => write_u64(self.out, m),
            Err(_) => self.out.extend_from_slice(magnitude.to_string().as_bytes()),
        }
        Ok(())
    }
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = CanonError;
    type SerializeSeq = ser::Impossible<(), CanonError>;
    type SerializeTuple = ser::Impossible<(), CanonError>;
    type SerializeTupleStruct = ser::Impossible<(), CanonError>;
    type SerializeTupleVariant = ser::Impossible<(), CanonError>;
    type SerializeMap = ser::Impossible<(), CanonError>;
    type SerializeStruct = ser::Impossible<(), CanonError>;
    type SerializeStructVariant = ser::Impossible<(), CanonError>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        self.number(v < 0, v.unsigned_abs())
    }
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u128(u128::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u128(u128::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u128(u128::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.serialize_u128(u128::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        self.number(false, v)
    }
    fn serialize_f32(self, _v: f32) -> Result<()> {
        Err(CanonError::Fallback)
    }
    fn serialize_f64(self, _v: f64) -> Result<()> {
        Err(CanonError::Fallback)
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        self.text(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<()> {
        not_a_key()
    }
    fn serialize_none(self) -> Result<()> {
        not_a_key()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<()> {
        not_a_key()
    }
    fn serialize_unit(self) -> Result<()> {
        not_a_key()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        not_a_key()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<()> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        not_a_key()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        not_a_key()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        not_a_key()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        not_a_key()
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        not_a_key()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        not_a_key()
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        not_a_key()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        not_a_key()
    }
}
