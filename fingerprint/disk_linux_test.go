package fingerprint

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const sampleMountInfo = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 26 254:2 / /var/lib rw,relatime shared:2 - xfs /dev/vdb rw
31 30 0:40 / /var/lib/drover\040data rw,relatime - tmpfs tmp\040fs rw
32 30 254:3 / /var/lib rw,relatime shared:3 - ext4 /dev/vdc rw
33 26 0:41 / /var/library rw - tmpfs other rw
garbage
`

func TestMountSource(t *testing.T) {
	for path, want := range map[string]string{
		"/":                          "/dev/vda1",
		"/home/u":                    "/dev/vda1",
		"/var/lib":                   "/dev/vdc",
		"/var/lib/x":                 "/dev/vdc",
		"/var/lib/drover data":       "tmp fs",
		"/var/lib/drover data/alloc": "tmp fs",
		"/var/lib/droverdata":        "/dev/vdc",
		"/var/library/y":             "other",
		"/proc/self":                 "proc",
	} {
		require.Equal(t, want, mountSource(strings.NewReader(sampleMountInfo), path), path)
	}
	require.Empty(t, mountSource(strings.NewReader("junk\n"), "/"))
}

func TestUnescapeMount(t *testing.T) {
	require.Equal(t, "a b\tc\\d", unescapeMount(`a\040b\011c\134d`))
	require.Equal(t, `tail\04`, unescapeMount(`tail\04`))
	require.Equal(t, `\999`, unescapeMount(`\999`))
}
