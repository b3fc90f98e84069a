package drover

import (
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// This file converts the host's plain Go values to the protobuf types the
// data model is made of: a task's Config, a duration field, a copy of a
// job to change.

// maxExactInt is the largest integer a task config number (a float64, as
// in JSON) holds exactly.
const maxExactInt = 1 << 53

// TaskConfig converts a task's driver configuration, written as plain Go
// values, to the *structpb.Struct of Task.Config:
//
//	Config: drover.TaskConfig(map[string]any{
//		"command": "/bin/sh",
//		"args":    []string{"-c", "echo hello"},
//		"env":     map[string]string{"MODE": "fast"},
//		"timeout": 30 * time.Second, // "30s"
//	}),
//
// It panics on a value NewTaskConfig refuses, as a literal written wrong
// is a bug of the program; use NewTaskConfig for configurations built at
// run time.
func TaskConfig(m map[string]any) *structpb.Struct {
	s, err := NewTaskConfig(m)
	if err != nil {
		panic(err)
	}
	return s
}

// NewTaskConfig converts a task's driver configuration to the
// *structpb.Struct of Task.Config, recursively: strings, booleans and
// numbers of any Go type (integers up to 2^53, which a config number
// holds exactly); a time.Duration as Nomad's string form ("1m30s"); a
// []byte as the UTF-8 text it holds; slices and arrays of any of these
// ([]string, []int, []any, ...) as lists; maps with string keys
// (map[string]string, map[string]any, ...) as nested objects; nil, and
// nil pointers, maps and slices, as null; pointers as what they point to;
// and *structpb.Struct, *structpb.Value and *structpb.ListValue as they
// are. Anything else (structs, channels, functions, maps with other keys)
// is an error naming its path in m.
func NewTaskConfig(m map[string]any) (*structpb.Struct, error) {
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(m))}
	for k, v := range m {
		val, err := configValue(reflect.ValueOf(v), k)
		if err != nil {
			return nil, fmt.Errorf("%w: task config: %w", ErrBadRequest, err)
		}
		out.Fields[k] = val
	}
	return out, nil
}

// configValue converts one value at path.
func configValue(v reflect.Value, path string) (*structpb.Value, error) {
	if !v.IsValid() {
		return structpb.NewNullValue(), nil
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return structpb.NewStringValue(x.String()), nil
	case *structpb.Value:
		if x == nil {
			return structpb.NewNullValue(), nil
		}
		return x, nil
	case *structpb.Struct:
		if x == nil {
			return structpb.NewNullValue(), nil
		}
		return structpb.NewStructValue(x), nil
	case *structpb.ListValue:
		if x == nil {
			return structpb.NewNullValue(), nil
		}
		return structpb.NewListValue(x), nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		return configValue(v.Elem(), path)
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return nil, fmt.Errorf("%s: a string that is not UTF-8", path)
		}
		return structpb.NewStringValue(v.String()), nil
	case reflect.Bool:
		return structpb.NewBoolValue(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n > maxExactInt || n < -maxExactInt {
			return nil, fmt.Errorf("%s: %d is beyond what a config number holds exactly (2^53)", path, n)
		}
		return structpb.NewNumberValue(float64(v.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n := v.Uint(); n > maxExactInt {
			return nil, fmt.Errorf("%s: %d is beyond what a config number holds exactly (2^53)", path, n)
		}
		return structpb.NewNumberValue(float64(v.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return structpb.NewNumberValue(v.Float()), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 && v.Kind() == reflect.Slice {
			b := v.Bytes()
			if !utf8.Valid(b) {
				return nil, fmt.Errorf("%s: bytes that are not UTF-8 text", path)
			}
			return structpb.NewStringValue(string(b)), nil
		}
		list := &structpb.ListValue{Values: make([]*structpb.Value, v.Len())}
		for i := range v.Len() {
			e, err := configValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			list.Values[i] = e
		}
		return structpb.NewListValue(list), nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: a map with %s keys (keys must be strings)", path, v.Type().Key())
		}
		if v.IsNil() {
			return structpb.NewNullValue(), nil
		}
		obj := &structpb.Struct{Fields: make(map[string]*structpb.Value, v.Len())}
		for it := v.MapRange(); it.Next(); {
			k := it.Key().String()
			e, err := configValue(it.Value(), path+"."+k)
			if err != nil {
				return nil, err
			}
			obj.Fields[k] = e
		}
		return structpb.NewStructValue(obj), nil
	}
	return nil, fmt.Errorf("%s: a %s has no task config form", path, v.Type())
}

// Duration converts d for the duration fields of the data model
// (Task.KillTimeout, RestartPolicy.Interval and Delay, ...):
//
//	KillTimeout: drover.Duration(10 * time.Second),
func Duration(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// CloneJob returns a deep copy of job, nil for nil. Jobs read from a
// server (Job, Jobs) are shared with its state and must not be changed;
// an update changes a copy and registers it again:
//
//	job, err := srv.Job(ctx, "", "web")
//	...
//	job = drover.CloneJob(job)
//	job.TaskGroups[0].Count = 5
//	_, err = srv.RegisterJob(ctx, job)
func CloneJob(job *Job) *Job {
	if job == nil {
		return nil
	}
	return proto.Clone(job).(*Job)
}
