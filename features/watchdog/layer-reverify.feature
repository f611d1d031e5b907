@epic:watchdog @any-substrate
Feature: Layers in use are re-verified against their signed root hashes
  The start gate checks a protected container's layers once, when it
  starts. An in-place edit of a layer.erofs afterwards changes what the
  running container reads (once the page cache is dropped) and nothing on
  vanilla containerd notices. The watchdog hashes every layer file in use
  again, at most once per period (10 s on the integrity profile) and within a
  read budget, against the root hash the image signature binds it to.

  Scenario Outline: a layer edited in place while its container runs (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "running-layer-tamper"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  # The watchdog is the one defence that fails silent: the gates and the
  # admission webhook refuse when they are gone. The audit daemon watches its
  # process from outside the node and names the containers left unwatched;
  # a watchdog stopped with SIGSTOP, frozen by the cgroup freezer or starved
  # by a CPU limit still exists but does no work.
  Scenario Outline: the watchdog <done>, then a running layer edited in place (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "running-layer-tamper-after-watchdog-<done>"
    Then the attack has the outcome expected on this profile

    Examples:
      | done    | profile   |
      | killed  | vanilla   |
      | killed  | integrity |
      | stopped | vanilla   |
      | stopped | integrity |
      | frozen  | vanilla   |
      | frozen  | integrity |
      | starved | vanilla   |
      | starved | integrity |

  # A race (seen once in two kind runs): if the re-verification falls right
  # after the edit, the watchdog stops the container before the attacker reads
  # the file back, and the verdict is blocked rather than detected.
  Scenario Outline: a layer edited in place where the watchdog enforces (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "d8-agent" in the "v2" format
    And the workload "d8-agent" is running
    When the attacker carries out "running-layer-tamper-enforced"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  Scenario: the watchdog re-verifies every layer of a protected container, the standard layer included
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    Then the watchdog re-verified every layer of "system-agent" against its signed root hash
    And the watchdog raised no alert
