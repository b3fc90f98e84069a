//go:build unix

package fingerprint

import "golang.org/x/sys/unix"

func uname() (*unix.Utsname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, err
	}
	return &u, nil
}

// kernelRelease is uname's release, such as "6.1.0-18-amd64".
func kernelRelease() (string, error) {
	u, err := uname()
	if err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// machine is uname's machine, such as "x86_64".
func machine() (string, error) {
	u, err := uname()
	if err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Machine[:]), nil
}
