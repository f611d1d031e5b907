@epic:watchdog @any-substrate
Feature: The mount watchdog catches overmounts in running protected containers
  Root on a node can change what a running container reads without
  touching its image: it enters the container's mount namespace, or attaches
  a clone of a node file from outside with open_tree and move_mount, and
  mounts over a file, a directory or /etc. On vanilla containerd the change
  shows in /proc/<pid>/mountinfo and nothing notices. The watchdog compares
  every watched namespace with the mount set the container's OCI spec
  implies: in kube-system it alerts (detected), in d8-* it also stops the
  container, so the overmount has no lasting effect (blocked).

  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "<workload>" in the "v2" format
    And the workload "<workload>" is running
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack                             | workload     | profile   |
      | overmount-binary                   | system-agent | vanilla   |
      | overmount-binary                   | system-agent | integrity |
      | overmount-binary-enforced          | d8-agent     | vanilla   |
      | overmount-binary-enforced          | d8-agent     | integrity |
      | overmount-from-node                | system-agent | vanilla   |
      | overmount-from-node                | system-agent | integrity |
      | overmount-from-node-enforced       | d8-agent     | vanilla   |
      | overmount-from-node-enforced       | d8-agent     | integrity |
      | overmount-agent-directory          | system-agent | vanilla   |
      | overmount-agent-directory          | system-agent | integrity |
      | overmount-agent-directory-enforced | d8-agent     | vanilla   |
      | overmount-agent-directory-enforced | d8-agent     | integrity |
      | etc-tmpfs-resolver                 | system-agent | vanilla   |
      | etc-tmpfs-resolver                 | system-agent | integrity |
      | etc-tmpfs-resolver-enforced        | d8-agent     | vanilla   |
      | etc-tmpfs-resolver-enforced        | d8-agent     | integrity |
      | resolv-conf-rewrite-on-node        | system-agent | vanilla   |
      | resolv-conf-rewrite-on-node        | system-agent | integrity |
      | hosts-rewrite-on-node              | system-agent | vanilla   |
      | hosts-rewrite-on-node              | system-agent | integrity |
      | hostname-rewrite-on-node           | system-agent | vanilla   |
      | hostname-rewrite-on-node           | system-agent | integrity |

  Scenario Outline: an overmount in a second mount namespace of the container, invisible to its init (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "overmount-in-private-namespace"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  Scenario Outline: an nsenter overmount is reported within 2 s with what an operator needs (<notify>)
    Given a lab node with the "integrity" profile and the watchdog noticing mounts by "<notify>"
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "overmount-binary"
    Then the attack has the outcome expected on this profile
    And the watchdog reported it within 2 s, naming the container, its pod and namespace, the mount line, the time and the reason
    And the watchdog noticed the mount through "<notify>"

    Examples:
      | notify   |
      | fanotify |
      | poll     |

  Scenario: in enforce mode the watchdog stops the overmounted container
    Given a lab node with the "integrity" profile
    And the lab signs the image of "d8-agent" in the "v2" format
    And the workload "d8-agent" is running
    When the attacker carries out "overmount-binary-enforced"
    Then the attack has the outcome expected on this profile
    And the watchdog reported it within 2 s, naming the container, its pod and namespace, the mount line, the time and the reason
    And the watchdog stopped the container of "d8-agent"
