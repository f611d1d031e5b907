@epic:watchdog @any-substrate
Feature: The controls defend themselves
  Root can switch the node gates off without touching a container: edit the
  gate configuration, add a CA to the trusted roots, take the runtime
  wrapper out of containerd's configuration or replace it, put its own
  listener on the gate daemon's socket, and restart the
  watchdog so that it forgets what it knew. The gate daemon reads its
  configuration and trusted roots against the digests the host pinned at
  lab start and refuses on other bytes. The watchdog compares what the gates
  are made of with the pins taken at lab start (a restart does not re-pin),
  and checks each container in a protected namespace from the node's mount
  table: one whose root is not the start gate's read-only root (a writable
  upperdir) never passed the gate; where the watchdog enforces (d8-*), it
  stops that container. The defences also run nothing of the node that
  root could replace and still be believed: the gates are static programs
  (no /bin/sh), the gate runs the audit start hold in the busybox it pinned,
  the audit layer sets its rules with its own helper (not the node's
  auditctl), and the gate refuses once the loader preloads a library into
  runc, through the preload list, containerd's environment or a library runc
  links. Every attack runs on the vanilla control too, where it must succeed.

  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "<workload>" in the "v2" format
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack                               | workload     | profile   |
      | watchdog-restart-after-tampering     | system-agent | vanilla   |
      | watchdog-restart-after-tampering     | system-agent | integrity |
      | start-gate-socket-hijacked           | system-agent | vanilla   |
      | start-gate-socket-hijacked           | system-agent | integrity |
      | start-gate-wrapper-replaced-enforced | d8-agent     | vanilla   |
      | start-gate-wrapper-replaced-enforced | d8-agent     | integrity |
      | start-gate-runc-replaced             | system-agent | vanilla   |
      | start-gate-runc-replaced             | system-agent | integrity |
      | start-gate-runc-preloaded            | system-agent | vanilla   |
      | start-gate-runc-preloaded            | system-agent | integrity |
      | start-gate-runc-env-preloaded        | system-agent | vanilla   |
      | start-gate-runc-env-preloaded        | system-agent | integrity |
      | start-gate-runc-library-replaced     | system-agent | vanilla   |
      | start-gate-runc-library-replaced     | system-agent | integrity |
      | start-gate-layer-bind-replaced       | system-agent | vanilla   |
      | start-gate-layer-bind-replaced       | system-agent | integrity |
      | unsigned-image-past-emptied-verifier | system-agent | vanilla   |
      | unsigned-image-past-emptied-verifier | system-agent | integrity |
      | watchdog-restart-after-config-edit   | system-agent | vanilla   |
      | watchdog-restart-after-config-edit   | system-agent | integrity |
      | watchdog-restart-after-bundle-edit   | system-agent | vanilla   |
      | watchdog-restart-after-bundle-edit   | system-agent | integrity |
      | watchdog-restart-after-record-edit   | system-agent | vanilla   |
      | watchdog-restart-after-record-edit   | system-agent | integrity |
      | watchdog-blinded-by-ctr              | system-agent | vanilla   |
      | watchdog-blinded-by-ctr              | system-agent | integrity |
      | pull-gate-shell-replaced             | system-agent | vanilla   |
      | pull-gate-shell-replaced             | system-agent | integrity |
      | start-gate-shell-replaced            | system-agent | vanilla   |
      | start-gate-shell-replaced            | system-agent | integrity |

    Examples:
      | attack                               | workload     | profile   |
      | start-gate-disabled-by-config        | system-agent | integrity |
      | start-gate-disabled-by-config        | system-agent | vanilla   |
      | start-gate-unhooked-from-containerd  | system-agent | vanilla   |
      | start-gate-unhooked-from-containerd  | system-agent | integrity |
      | start-gate-wrapper-replaced          | system-agent | vanilla   |
      | start-gate-wrapper-replaced          | system-agent | integrity |

    Examples: the audit layer defends itself
      | attack                          | workload     | profile   |
      | audit-start-hold-removed        | system-agent | vanilla   |
      | audit-start-hold-removed        | system-agent | integrity |
      | audit-start-hold-shell-replaced | system-agent | vanilla   |
      | audit-start-hold-shell-replaced | system-agent | integrity |
      | audit-blinded-by-auditctl       | system-agent | vanilla   |
      | audit-blinded-by-auditctl       | system-agent | integrity |

  Scenario Outline: rogue-ca-in-trusted-roots (<profile>)
    Given a lab node with the "<profile>" profile
    When the attacker carries out "rogue-ca-in-trusted-roots"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |
