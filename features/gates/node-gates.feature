@epic:gates
Feature: Node integrity gates admit only what the signature covers
  The integrity profile installs the pull gate (containerd's image verifier)
  and the start gate (in front of runc). Protected images are
  those under 127.0.0.1:5000/system/, protected namespaces kube-system and
  every d8- namespace. Every
  attack runs on the vanilla control too, where it must succeed.

  @any-substrate
  Scenario Outline: a signed system image runs (positive control, <workload>, <profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "<workload>" in the "v2" format
    When the workload "<workload>" is started
    Then the workload "<workload>" runs

    Examples:
      | workload                | profile   |
      | system-agent            | vanilla   |
      | system-agent            | integrity |
      | agent-as-user           | vanilla   |
      | agent-as-user           | integrity |
      | agent-seccomp-default   | vanilla   |
      | agent-seccomp-default   | integrity |
      | agent-seccomp-localhost | vanilla   |
      | agent-seccomp-localhost | integrity |
      | agent-with-limits       | vanilla   |
      | agent-with-limits       | integrity |

  @any-substrate
  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "<signed>" in the "v2" format
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack                                          | signed                  | profile   |
      | layer-tamper-before-start                       | system-agent            | vanilla   |
      | layer-tamper-before-start                       | system-agent            | integrity |
      | layer-swap-with-sidecar                         | system-agent            | vanilla   |
      | layer-swap-with-sidecar                         | system-agent            | integrity |
      | forged-mount-on-snapshot                        | system-agent            | vanilla   |
      | forged-mount-on-snapshot                        | system-agent            | integrity |
      | image-config-tamper                             | system-agent            | vanilla   |
      | image-config-tamper                             | system-agent            | integrity |
      | image-retag-before-start                        | system-agent            | vanilla   |
      | image-retag-before-start                        | system-agent            | integrity |
      | side-loaded-pause-image                         | system-agent            | vanilla   |
      | side-loaded-pause-image                         | system-agent            | integrity |
      | another-signed-image-under-protected-name       | system-agent            | vanilla   |
      | another-signed-image-under-protected-name       | system-agent            | integrity |
      | rollback-to-older-signed-release                | system-agent            | vanilla   |
      | rollback-to-older-signed-release                | system-agent            | integrity |
      | ungated-by-forged-bundle-namespace              | system-agent            | vanilla   |
      | ungated-by-forged-bundle-namespace              | system-agent            | integrity |
      | ungated-by-updated-containerd-record            | system-agent            | vanilla   |
      | ungated-by-updated-containerd-record            | system-agent            | integrity |
      | command-rewritten-in-containerd-record          | system-agent            | vanilla   |
      | command-rewritten-in-containerd-record          | system-agent            | integrity |
      | hook-added-in-containerd-record                 | system-agent            | vanilla   |
      | hook-added-in-containerd-record                 | system-agent            | integrity |
      | capabilities-added-in-containerd-record         | system-agent            | vanilla   |
      | capabilities-added-in-containerd-record         | system-agent            | integrity |
      | node-network-in-containerd-record               | system-agent            | vanilla   |
      | node-network-in-containerd-record               | system-agent            | integrity |
      | writable-sysfs-in-containerd-record             | system-agent            | vanilla   |
      | writable-sysfs-in-containerd-record             | system-agent            | integrity |
      | root-user-in-containerd-record                  | agent-as-user           | vanilla   |
      | root-user-in-containerd-record                  | agent-as-user           | integrity |
      | root-group-added-in-containerd-record           | agent-as-user           | vanilla   |
      | root-group-added-in-containerd-record           | agent-as-user           | integrity |
      | sysctl-added-in-containerd-record               | system-agent            | vanilla   |
      | sysctl-added-in-containerd-record               | system-agent            | integrity |
      | core-limit-raised-in-containerd-record          | system-agent            | vanilla   |
      | core-limit-raised-in-containerd-record          | system-agent            | integrity |
      | seccomp-loosened-in-containerd-record           | agent-seccomp-default   | vanilla   |
      | seccomp-loosened-in-containerd-record           | agent-seccomp-default   | integrity |
      | seccomp-localhost-loosened-in-containerd-record | agent-seccomp-localhost | vanilla   |
      | seccomp-localhost-loosened-in-containerd-record | agent-seccomp-localhost | integrity |
      | seccomp-localhost-profile-overmounted           | agent-seccomp-localhost | vanilla   |
      | seccomp-localhost-profile-overmounted           | agent-seccomp-localhost | integrity |
      | seccomp-localhost-profile-overmounted-for-app   | app-seccomp-localhost   | vanilla   |
      | seccomp-localhost-profile-overmounted-for-app   | app-seccomp-localhost   | integrity |

  @any-substrate
  Scenario Outline: an unsigned pull of a protected image (<profile>)
    Given a lab node with the "<profile>" profile
    When the attacker carries out "unsigned-pull"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  @severity:critical @smoke @any-substrate
  Scenario: the refusals reach the CRI caller with their reasons (integrity)
    Given a lab node with the "integrity" profile
    When the attacker carries out "unsigned-pull"
    Then the attack has the outcome expected on this profile
    And the attack's observed reason contains "integrity pull gate refused"
    And the "pull-gate" reported it
    Given the lab signs the image of "system-agent" in the "v2" format
    When the attacker carries out "layer-tamper-before-start"
    Then the attack has the outcome expected on this profile
    And the attack's observed reason contains "does not match the signed" or "the signed manifest says"
    And the "start-gate" reported it

  @any-substrate
  Scenario: an unsigned image side-loaded with ctr images import runs (vanilla)
    Given a lab node with the "vanilla" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the attacker carries out "side-loaded-unsigned-image"
    Then the attack has the outcome expected on this profile

  @any-substrate
  Scenario: an unsigned image side-loaded with ctr images import is refused, removed and pulled again (integrity)
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When the attacker carries out "side-loaded-unsigned-image"
    Then the attack has the outcome expected on this profile
    And the attack's observed reason contains "treated as corrupted"
    And the node holds the signed image of "system-agent" again
    When the workload "system-agent" is started again
    Then the workload "system-agent" runs

  @any-substrate
  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | attack                                   | profile   |
      | rootfs-write-from-inside                 | vanilla   |
      | rootfs-write-from-inside                 | integrity |
      | upperdir-write-from-host                 | vanilla   |
      | upperdir-write-from-host                 | integrity |
      | copied-shell-from-tmp                    | vanilla   |
      | copied-shell-from-tmp                    | integrity |
      | copied-shell-from-shm                    | vanilla   |
      | copied-shell-from-shm                    | integrity |
      | copied-shell-from-tmp-after-remount-exec | vanilla   |
      | copied-shell-from-tmp-after-remount-exec | integrity |
      | copied-shell-from-tmp-while-exec-able    | vanilla   |
      | copied-shell-from-tmp-while-exec-able    | integrity |
      | fileless-shell-made-in-agent             | vanilla   |
      | fileless-shell-made-in-agent             | integrity |

  @any-substrate
  Scenario Outline: a shell copied to a writable volume and run (<profile>)
    Given a lab node with the "<profile>" profile
    And the node directory "/srv/integrity-lab" is a 64 MiB tmpfs
    And the node file "/srv/integrity-lab/blob" holds 1 MiB
    And the node directory "/srv/integrity-lab/scratch" exists
    And the lab signs the image of "volume-agent" in the "v2" format
    And the workload "volume-agent" is running
    When the attacker carries out "copied-shell-from-volume"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  @any-substrate
  Scenario: a workload in an unprotected namespace runs unsigned: the gates are scoped
    Given a lab node with the "integrity" profile
    When the workload "app" is started
    Then the workload "app" runs
