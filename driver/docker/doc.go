// Package docker is the docker driver: it runs a task as a container of
// the host's Docker Engine, as Nomad's docker driver does.
//
// It talks to the engine through github.com/moby/moby/client, Docker's own
// maintained Go client, with API version negotiation, so that an engine
// as old as API 1.40 (Docker 19.03) works; the engine is found through
// Config.Endpoint or DOCKER_HOST (and its companions), else the default
// socket.
//
// The fingerprint reports the driver detected and healthy once the engine
// answers, with driver.docker.version and friends as node attributes; an
// engine that goes away makes it unhealthy, not undetected, and healthy
// again when it answers.
//
// Task config keys, Nomad's names: image (required), command, args,
// entrypoint, ports (labels of the group's network ports, published on
// the node's address and mapped to each port's to), labels, volumes
// ("source:target[:ro]"; a relative source is relative to the task
// directory; host paths outside the allocation need the plugin's volumes
// enabled), mount blocks (type volume, bind or tmpfs; target, source,
// readonly, bind_options.propagation, tmpfs_options.size and mode,
// volume_options.no_copy and labels), work_dir, network_mode, privileged
// (refused unless the plugin allows it), force_pull, image_pull_timeout
// (default 5m) and auth (username, password, email, server_address).
// Any other key fails the task. The task's user, when it sets one, is
// the container's (else the image's). The task's environment, NOMAD_* variables
// and ports included, is the container's, with NOMAD_TASK_DIR,
// NOMAD_ALLOC_DIR and NOMAD_SECRETS_DIR naming /local, /alloc and
// /secrets, where the task's local/ and secrets/ and the allocation's
// shared directory are mounted.
//
// Resources: the task's memory is the container's memory limit; with
// memory oversubscription its memory_max is the limit and its memory the
// reservation (a soft limit). Its cpu (MHz) is the container's cpu shares.
// A container killed for its memory exits with driver.ErrOOMKilled.
//
// Images: a local image is used as is; it is pulled only when missing or
// with force_pull. The driver counts the tasks that use each image and
// removes an image once no task has used it for the plugin's gc
// image_delay.
//
// The container's stdout and stderr are copied to the task's log files.
// A stop sends the task's kill signal (the image's stop signal, else
// SIGTERM, when it sets none) and, after its kill timeout, SIGKILL; the
// container is removed once the task is done.
//
// Containers are named <task>-<allocation id> and labelled with the
// allocation, task and job, and outlive the client: RecoverTask finds a
// container again by the id its handle recorded, checks its labels, and
// resumes watching it and copying its logs from where the last copy
// stopped (lines logged in the last second before a client was killed
// may be copied twice). A start of a task whose container is left from an
// earlier run replaces that container, so a task never has two.
package docker

// Name is the driver's name in jobs.
const Name = "docker"
