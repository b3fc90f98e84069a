package server

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

// A snapshot stream holds the whole state of a server at one raft index. It
// is what raft snapshots are made of, what a leader streams to a follower
// that is too far behind, and what an operator backup contains:
//
//	magic "DRVRSNP1"
//	frame: SnapshotHeader (index, term, conf state, raft peers)
//	frame: SnapshotRecord, one per object (one element of a StateSnapshot field)
//	frame: SnapshotRecord with field 0: the record count and the CRC-32C of every byte before it
//
// A frame is a uvarint length followed by that many bytes of protobuf. The
// stream is written and read one object at a time, so no step holds the
// whole encoding in memory.
const snapshotMagic = "DRVRSNP1"

// snapshotVersion is the stream layout this package writes and reads.
const snapshotVersion = 1

// maxSnapshotFrame bounds one frame of a stream read from disk or the
// network: a bigger frame means the stream is damaged.
const maxSnapshotFrame = 64 << 20

// ErrBadSnapshot is returned when a snapshot or backup stream is damaged,
// truncated or of an unknown version.
var ErrBadSnapshot = errors.New("bad snapshot stream")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeSnapshot writes hdr and every object of st to w as a snapshot stream.
func writeSnapshot(w io.Writer, hdr *structs.SnapshotHeader, st *structs.StateSnapshot) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	sw := &snapshotWriter{w: bw, crc: crc32.New(castagnoli)}
	if _, err := sw.write([]byte(snapshotMagic)); err != nil {
		return err
	}
	hdr = proto.CloneOf(hdr)
	hdr.Version = snapshotVersion
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

type snapshotWriter struct {
	w   io.Writer
	crc hash.Hash32
	buf []byte
}

func (sw *snapshotWriter) write(p []byte) (int, error) {
	if sw.crc != nil {
		sw.crc.Write(p)
	}
	n, err := sw.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("write snapshot: %w", err)
	}
	return n, nil
}

func (sw *snapshotWriter) frame(m proto.Message) error {
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

// snapshotReader reads a snapshot stream frame by frame, checking its
// checksum as it goes.
type snapshotReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	buf []byte
}

func newSnapshotReader(r io.Reader) (*snapshotReader, *structs.SnapshotHeader, error) {
	sr := &snapshotReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc32.New(castagnoli)}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(sr.r, magic); err != nil {
		return nil, nil, fmt.Errorf("%w: reading magic: %w", ErrBadSnapshot, err)
	}
	if string(magic) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: not a drover snapshot", ErrBadSnapshot)
	}
	sr.crc.Write(magic)
	hdr := &structs.SnapshotHeader{}
	if err := sr.frame(hdr); err != nil {
		return nil, nil, err
	}
	if hdr.Version != snapshotVersion {
		return nil, nil, fmt.Errorf("%w: version %d, this server reads %d", ErrBadSnapshot, hdr.Version, snapshotVersion)
	}
	return sr, hdr, nil
}

func (sr *snapshotReader) frame(m proto.Message) error {
	before := sr.crc.Sum32()
	size, err := binary.ReadUvarint(byteCounter{sr})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, noEOF(err))
	}
	if size > maxSnapshotFrame {
		return fmt.Errorf("%w: frame of %d bytes", ErrBadSnapshot, size)
	}
	if uint64(cap(sr.buf)) < size {
		sr.buf = make([]byte, size)
	}
	sr.buf = sr.buf[:size]
	if _, err := io.ReadFull(sr.r, sr.buf); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, noEOF(err))
	}
	sr.crc.Write(sr.buf)
	if err := proto.Unmarshal(sr.buf, m); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if rec, ok := m.(*structs.SnapshotRecord); ok && rec.Field == 0 && rec.Crc32C != before {
		return fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	return nil
}

// next reads the next record; it returns io.EOF after a valid trailer.
func (sr *snapshotReader) next(count *uint64) (*structs.SnapshotRecord, error) {
	rec := &structs.SnapshotRecord{}
	if err := sr.frame(rec); err != nil {
		return nil, err
	}
	if rec.Field == 0 {
		if rec.Count != *count {
			return nil, fmt.Errorf("%w: trailer counts %d records, read %d", ErrBadSnapshot, rec.Count, *count)
		}
		if _, err := sr.r.ReadByte(); err != io.EOF {
			return nil, fmt.Errorf("%w: data after the trailer", ErrBadSnapshot)
		}
		return nil, io.EOF
	}
	*count++
	return rec, nil
}

// readSnapshot decodes a whole snapshot stream.
func readSnapshot(r io.Reader) (*structs.SnapshotHeader, *structs.StateSnapshot, error) {
	sr, hdr, err := newSnapshotReader(r)
	if err != nil {
		return nil, nil, err
	}
	st := &structs.StateSnapshot{}
	if err := sr.records(func(rec *structs.SnapshotRecord) error { return mergeRecord(st, rec) }); err != nil {
		return nil, nil, err
	}
	st.Index = hdr.Index
	return hdr, st, nil
}

// records calls f for every record up to a valid trailer.
func (sr *snapshotReader) records(f func(*structs.SnapshotRecord) error) error {
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

// mergeRecord adds one record's object to st. Records of fields this
// version does not know are kept as unknown fields, not dropped.
func mergeRecord(st *structs.StateSnapshot, rec *structs.SnapshotRecord) error {
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(rec.Data, st); err != nil {
		return fmt.Errorf("%w: record of field %d: %w", ErrBadSnapshot, rec.Field, err)
	}
	return nil
}

// verifySnapshot reads a stream to its end, checking framing, header,
// record count and checksum without decoding the objects.
func verifySnapshot(r io.Reader) (*structs.SnapshotHeader, error) {
	sr, hdr, err := newSnapshotReader(r)
	if err != nil {
		return nil, err
	}
	return hdr, sr.records(func(*structs.SnapshotRecord) error { return nil })
}

// byteCounter feeds the bytes of a uvarint through the reader's checksum.
type byteCounter struct{ sr *snapshotReader }

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
