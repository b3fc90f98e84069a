// Package statestream is the format of a server's whole state at one raft
// index written as a byte stream: the content of every raft snapshot file,
// what a leader streams to a follower too far behind, and what an operator
// backup (Server.Backup, Server.Restore) holds. It is one format so that a
// backup is exactly what a raft snapshot would hold.
//
// The layout:
//
//	magic "DRVRSNP1"
//	frame: SnapshotHeader (index, term, conf state, raft peers)
//	frame: SnapshotRecord, one per object (one element of a StateSnapshot field)
//	frame: SnapshotRecord with field 0: the record count and the CRC-32C of every byte before it
//
// A frame is a uvarint length followed by that many bytes of protobuf. The
// stream is written and read one object at a time, so no step holds the
// whole encoding in memory.
package statestream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/droverhq/drover/structs"
)

// magic opens every stream.
const magic = "DRVRSNP1"

// version is the stream layout this package writes and reads.
const version = 1

// maxFrame bounds one frame of a stream read from disk or the
// network: a bigger frame means the stream is damaged.
const maxFrame = 64 << 20

// ErrBadStream is returned when a stream (in a raft snapshot file, from a
// leader, or a backup) is damaged, truncated or of an unknown version.
var ErrBadStream = errors.New("bad snapshot stream")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write writes hdr and every object of st to w as a stream.
func Write(w io.Writer, hdr *structs.SnapshotHeader, st *structs.StateSnapshot) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	sw := &writer{w: bw, crc: crc32.New(castagnoli)}
	if _, err := sw.write([]byte(magic)); err != nil {
		return err
	}
	hdr = proto.CloneOf(hdr)
	hdr.Version = version
	if err := sw.frame(hdr); err != nil {
		return err
	}
	var count uint64
	var ferr error
	rec := &structs.SnapshotRecord{}
	m := st.ProtoReflect()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() == stateIndexField {
			return true // the header carries the index
		}
		emit := func(data []byte) bool {
			rec.Field, rec.Data = uint32(fd.Number()), data
			if ferr = sw.frame(rec); ferr != nil {
				return false
			}
			count++
			return true
		}
		if fd.IsList() && fd.Message() != nil {
			list := v.List()
			for i := range list.Len() {
				elem, err := proto.MarshalOptions{Deterministic: true}.Marshal(list.Get(i).Message().Interface())
				if err != nil {
					ferr = err
					return false
				}
				// The record holds the field exactly as it appears on the
				// wire, so decoding merges it back into a StateSnapshot.
				data := protowire.AppendTag(nil, fd.Number(), protowire.BytesType)
				if !emit(protowire.AppendBytes(data, elem)) {
					return false
				}
			}
			return true
		}
		one := m.New()
		one.Set(fd, v)
		data, err := proto.MarshalOptions{Deterministic: true}.Marshal(one.Interface())
		if err != nil {
			ferr = err
			return false
		}
		return emit(data)
	})
	// Fields of a newer version, kept as unknown when this one read them,
	// are passed on as they are.
	for raw := m.GetUnknown(); len(raw) > 0 && ferr == nil; {
		num, _, n := protowire.ConsumeField(raw)
		if n < 0 {
			ferr = protowire.ParseError(n)
			break
		}
		rec.Field, rec.Data = uint32(num), raw[:n]
		if ferr = sw.frame(rec); ferr == nil {
			count++
		}
		raw = raw[n:]
	}
	if ferr != nil {
		return fmt.Errorf("write snapshot: %w", ferr)
	}
	// The trailer is not part of its own checksum.
	trailer := &structs.SnapshotRecord{Count: count, Crc32C: sw.crc.Sum32()}
	sw.crc = nil
	if err := sw.frame(trailer); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// stateIndexField is StateSnapshot's index field, which the header carries.
const stateIndexField = 1

type writer struct {
	w   io.Writer
	crc hash.Hash32
	buf []byte
}

func (sw *writer) write(p []byte) (int, error) {
	if sw.crc != nil {
		sw.crc.Write(p)
	}
	n, err := sw.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write snapshot: %w", err)
	}
	return n, nil
}

func (sw *writer) frame(m proto.Message) error {
	var err error
	sw.buf, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(sw.buf[:0], m)
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	var lenBuf [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lenBuf[:], uint64(len(sw.buf)))
	if _, err := sw.write(lenBuf[:n]); err != nil {
		return err
	}
	_, err = sw.write(sw.buf)
	return err
}

// Reader reads a stream record by record, checking its checksum as it
// goes; an operator restore uses it to pass records on without decoding
// the whole state.
type Reader struct {
	r   *bufio.Reader
	crc hash.Hash32
	buf []byte
}

// NewReader reads the stream's magic and header from r and returns a
// Reader positioned at the first record.
func NewReader(r io.Reader) (*Reader, *structs.SnapshotHeader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 256<<10), crc: crc32.New(castagnoli)}
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(sr.r, head); err != nil {
		return nil, nil, fmt.Errorf("%w: reading magic: %w", ErrBadStream, err)
	}
	if string(head) != magic {
		return nil, nil, fmt.Errorf("%w: not a drover snapshot", ErrBadStream)
	}
	sr.crc.Write(head)
	hdr := &structs.SnapshotHeader{}
	if err := sr.frame(hdr); err != nil {
		return nil, nil, err
	}
	if hdr.Version != version {
		return nil, nil, fmt.Errorf("%w: version %d, this server reads %d", ErrBadStream, hdr.Version, version)
	}
	return sr, hdr, nil
}

func (sr *Reader) frame(m proto.Message) error {
	before := sr.crc.Sum32()
	size, err := binary.ReadUvarint(byteCounter{sr})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadStream, noEOF(err))
	}
	if size > maxFrame {
		return fmt.Errorf("%w: frame of %d bytes", ErrBadStream, size)
	}
	if uint64(cap(sr.buf)) < size {
		sr.buf = make([]byte, size)
	}
	sr.buf = sr.buf[:size]
	if _, err := io.ReadFull(sr.r, sr.buf); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStream, noEOF(err))
	}
	sr.crc.Write(sr.buf)
	if err := proto.Unmarshal(sr.buf, m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStream, err)
	}
	if rec, ok := m.(*structs.SnapshotRecord); ok && rec.Field == 0 && rec.Crc32C != before {
		return fmt.Errorf("%w: checksum mismatch", ErrBadStream)
	}
	return nil
}

// next reads the next record; it returns io.EOF after a valid trailer.
func (sr *Reader) next(count *uint64) (*structs.SnapshotRecord, error) {
	rec := &structs.SnapshotRecord{}
	if err := sr.frame(rec); err != nil {
		return nil, err
	}
	if rec.Field == 0 {
		if rec.Count != *count {
			return nil, fmt.Errorf("%w: trailer counts %d records, read %d", ErrBadStream, rec.Count, *count)
		}
		if _, err := sr.r.ReadByte(); err != io.EOF {
			return nil, fmt.Errorf("%w: data after the trailer", ErrBadStream)
		}
		return nil, io.EOF
	}
	*count++
	return rec, nil
}

// Read decodes a whole stream.
func Read(r io.Reader) (*structs.SnapshotHeader, *structs.StateSnapshot, error) {
	sr, hdr, err := NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	st := &structs.StateSnapshot{}
	if err := sr.Records(func(rec *structs.SnapshotRecord) error { return MergeRecord(st, rec) }); err != nil {
		return nil, nil, err
	}
	st.Index = hdr.Index
	return hdr, st, nil
}

// Records calls f for every record up to a valid trailer; it fails with
// ErrBadStream when the stream ends early, holds a damaged frame or does
// not match its trailer.
func (sr *Reader) Records(f func(*structs.SnapshotRecord) error) error {
	var count uint64
	for {
		rec, err := sr.next(&count)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(rec); err != nil {
			return err
		}
	}
}

// MergeRecord adds one record's object to st. Records of fields this
// version does not know are kept as unknown fields, not dropped.
func MergeRecord(st *structs.StateSnapshot, rec *structs.SnapshotRecord) error {
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(rec.Data, st); err != nil {
		return fmt.Errorf("%w: record of field %d: %w", ErrBadStream, rec.Field, err)
	}
	return nil
}

// Verify reads a stream to its end, checking framing, header,
// record count and checksum without decoding the objects.
func Verify(r io.Reader) (*structs.SnapshotHeader, error) {
	sr, hdr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	return hdr, sr.Records(func(*structs.SnapshotRecord) error { return nil })
}

// byteCounter feeds the bytes of a uvarint through the reader's checksum.
type byteCounter struct{ sr *Reader }

func (b byteCounter) ReadByte() (byte, error) {
	c, err := b.sr.r.ReadByte()
	if err == nil {
		b.sr.crc.Write([]byte{c})
	}
	return c, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
