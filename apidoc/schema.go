package apidoc

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// Schema is one JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as a JSON object.
type Schema = map[string]any

// schemas turns Go types into JSON Schemas the way encoding/json writes and reads them,
// collecting every named struct into components so that it is described once and referred
// to by $ref.
type schemas struct {
	components map[string]Schema
	names      map[reflect.Type]string // each named struct's component name
	taken      map[string]reflect.Type // which type holds a component name
	enums      map[reflect.Type][]string
}

func newSchemas(enums map[reflect.Type][]string) *schemas {
	return &schemas{components: map[string]Schema{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}, enums: enums}
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// of returns the schema of t. A value that encoding/json may write as null (a pointer, a
// slice, a map, an interface) allows null: a Go client that trusted "array" would be told
// the truth only by a nil slice in production.
func (s *schemas) of(t reflect.Type) Schema {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	sc := s.nonNull(t)
	switch t.Kind() {
	case reflect.Slice, reflect.Map:
		nullable = nullable || t != rawMessageType
	case reflect.Interface:
		return Schema{} // anything, null included
	}
	if !nullable {
		return sc
	}
	if typ, ok := sc["type"].(string); ok {
		out := Schema{}
		for k, v := range sc {
			out[k] = v
		}
		out["type"] = []any{typ, "null"}
		if enum, ok := out["enum"].([]any); ok {
			out["enum"] = append(append([]any{}, enum...), nil)
		}
		return out
	}
	return Schema{"anyOf": []any{sc, Schema{"type": "null"}}}
}

// nonNull is the schema of a value of t that is not null.
func (s *schemas) nonNull(t reflect.Type) Schema {
	if values, ok := s.enums[t]; ok {
		enum := make([]any, len(values))
		for i, v := range values {
			enum[i] = v
		}
		return Schema{"type": "string", "enum": enum}
	}
	switch {
	case t == timeType:
		return Schema{"type": "string", "format": "date-time"}
	case t == rawMessageType:
		return Schema{} // any JSON value
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		return Schema{} // the type writes itself; reflection cannot see how
	case t.Kind() != reflect.String && (t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)):
		return Schema{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return Schema{"type": "integer", "format": "int64"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return Schema{"type": "integer", "format": "int32"}
	case reflect.Float32:
		return Schema{"type": "number", "format": "float"}
	case reflect.Float64:
		return Schema{"type": "number", "format": "double"}
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return Schema{"type": "string", "contentEncoding": "base64"}
		}
		return Schema{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		return s.object(t)
	case reflect.Interface:
		return Schema{}
	}
	panic("apidoc: no JSON schema for " + t.String())
}

// object is a struct's schema: a $ref to its component when the struct is named, the object
// itself when it is anonymous.
func (s *schemas) object(t reflect.Type) Schema {
	if t.Name() == "" {
		return s.build(t)
	}
	if name, ok := s.names[t]; ok {
		return Schema{"$ref": "#/components/schemas/" + name}
	}
	name := s.componentName(t)
	s.names[t], s.taken[name] = name, t
	s.components[name] = Schema{} // a placeholder, so a recursive type refers to itself
	s.components[name] = s.build(t)
	return Schema{"$ref": "#/components/schemas/" + name}
}

// componentName names a struct after its type, with its package in front when another
// package already has a type of that name (prompts.Version and rlhf.Version).
func (s *schemas) componentName(t reflect.Type) string {
	name := upperFirst(strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, t.Name()))
	if _, clash := s.taken[name]; !clash {
		return name
	}
	pkg := t.PkgPath()
	return upperFirst(pkg[strings.LastIndex(pkg, "/")+1:]) + name
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// build describes a struct's fields as encoding/json sees them: embedded structs lift their
// fields, `json:"-"` hides one, omitempty makes one optional, and the ",string" option
// writes a number as a string.
func (s *schemas) build(t reflect.Type) Schema {
	props := Schema{}
	var required []any
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			sc := s.of(f.Type)
			if hasOpt(opts, "string") {
				sc = Schema{"type": "string"}
			}
			if d := f.Tag.Get("doc"); d != "" {
				sc = withDescription(sc, d)
			}
			props[name] = sc
			if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	out := Schema{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// withDescription adds a description; next to a $ref, 3.1 allows it as a sibling.
func withDescription(sc Schema, d string) Schema {
	out := Schema{"description": d}
	for k, v := range sc {
		out[k] = v
	}
	return out
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
