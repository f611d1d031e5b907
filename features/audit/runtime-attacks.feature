@epic:audit @attack @any-substrate
Feature: Runtime attacks a Falco-style audit layer must notice
  Containerd runs whatever it is asked to and says nothing about what
  happens inside a container. The audit component listens to the kernel's
  audit records and the CRI container inventory beside the node, evaluates
  the lab's Falco-syntax rules, and raises alerts in Falco's JSON shape.
  Every attack here succeeds on both profiles; on the vanilla control it
  goes unnoticed, with audit it is reported.

  Scenario: a shell opened in a running container on the vanilla profile
    Given a lab node with the "vanilla" profile
    And the workload "app" is running
    When the attacker carries out "shell-in-app"
    Then the attack has the outcome expected on this profile

  Scenario: a shell opened in a running container on the integrity profile
    Given a lab node with the "integrity" profile
    And the workload "app" is running
    When the attacker carries out "shell-in-app"
    Then the attack has the outcome expected on this profile
    And the audit rule "Shell spawned in a container" raised an alert

  Scenario: a privileged container started through the CRI socket on the vanilla profile
    Given a lab node with the "vanilla" profile
    When the attacker carries out "privileged-pod-via-cri"
    Then the attack has the outcome expected on this profile

  Scenario: a privileged container started through the CRI socket on the integrity profile
    Given a lab node with the "integrity" profile
    When the attacker carries out "privileged-pod-via-cri"
    Then the attack has the outcome expected on this profile
    And the audit rule "Privileged container started" raised an alert

  Scenario: the node's /etc mounted into a container on the vanilla profile
    Given a lab node with the "vanilla" profile
    When the attacker carries out "hostpath-etc-via-cri"
    Then the attack has the outcome expected on this profile

  Scenario: the node's /etc mounted into a container on the integrity profile
    Given a lab node with the "integrity" profile
    When the attacker carries out "hostpath-etc-via-cri"
    Then the attack has the outcome expected on this profile
    And the audit rule "Sensitive host path mounted into a container" raised an alert

  Scenario: /etc/shadow read inside a container on the vanilla profile
    Given a lab node with the "vanilla" profile
    And the workload "legacy-app" is running
    When the attacker carries out "shadow-read"
    Then the attack has the outcome expected on this profile

  Scenario: /etc/shadow read inside a container on the integrity profile
    Given a lab node with the "integrity" profile
    And the workload "legacy-app" is running
    When the attacker carries out "shadow-read"
    Then the attack has the outcome expected on this profile
    And the audit rule "Read of a sensitive file" raised an alert

  Scenario Outline: /etc/shadow read through io_uring inside a container (<profile>)
    Given a lab node with the "<profile>" profile
    And the workload "legacy-app" is running
    When the attacker carries out "shadow-read-through-io-uring"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  Scenario: a shell run from an anonymous memory file in a protected container on the vanilla profile
    Given a lab node with the "vanilla" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "fileless-shell-in-agent"
    Then the attack has the outcome expected on this profile

  Scenario: a shell run from an anonymous memory file in a protected container on the integrity profile
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "fileless-shell-in-agent"
    Then the attack has the outcome expected on this profile
    And the audit rule "Fileless execution in a container" raised an alert

  Scenario: root deletes a protected container's audit rules, then opens a shell in it, on the vanilla profile
    Given a lab node with the "vanilla" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "audit-rules-deleted-from-node"
    Then the attack has the outcome expected on this profile

  Scenario: root deletes a protected container's audit rules, then opens a shell in it, on the integrity profile
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "audit-rules-deleted-from-node"
    Then the attack has the outcome expected on this profile
    And the audit rule "Audit rules of a container removed" raised an alert

  # The audit daemon runs beside the node, where root on the node cannot see
  # or signal its process; its cgroup must be out of reach too.
  Scenario Outline: root freezes the audit daemon through the cgroup file system, then opens a shell in a protected container (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "shell-in-agent-after-audit-frozen"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  # The 32-bit system call ABI: the same execve, another syscall number.
  Scenario Outline: root starts a shell in a protected container through the 32-bit system call ABI (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "shell-in-agent-by-32-bit-syscall"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  # Kernel auditing and its rule lists are host-wide: these scenarios run
  # alone (@host-audit), so that no other lab is silenced meanwhile.
  @host-audit
  Scenario Outline: root silences kernel auditing (<how>), then opens a shell in a protected container (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile

    Examples:
      | how                   | attack                                  | profile   |
      | auditing switched off | shell-in-agent-after-audit-disabled     | vanilla   |
      | auditing switched off | shell-in-agent-after-audit-disabled     | integrity |
      | a never rule          | shell-in-agent-after-audit-never-rule   | vanilla   |
      | a never rule          | shell-in-agent-after-audit-never-rule   | integrity |
      | a rate limit          | shell-in-agent-after-audit-rate-limited | vanilla   |
      | a rate limit          | shell-in-agent-after-audit-rate-limited | integrity |

  Scenario: a shell that is a container's entrypoint and exits at once on the vanilla profile
    Given a lab node with the "vanilla" profile
    When the attacker carries out "shell-at-container-start"
    Then the attack has the outcome expected on this profile

  Scenario: a shell that is a container's entrypoint and exits at once on the integrity profile
    Given a lab node with the "integrity" profile
    When the attacker carries out "shell-at-container-start"
    Then the attack has the outcome expected on this profile
    And the audit rule "Shell spawned in a container" raised an alert

  Scenario: a transient overmount of a protected container, gone before a mount table is read, on the vanilla profile
    Given a lab node with the "vanilla" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "transient-overmount-of-agent"
    Then the attack has the outcome expected on this profile

  Scenario: a transient overmount of a protected container, gone before a mount table is read, on the integrity profile
    Given a lab node with the "integrity" profile
    And the lab signs the image of "system-agent" in the "v2" format
    And the workload "system-agent" is running
    When the attacker carries out "transient-overmount-of-agent"
    Then the attack has the outcome expected on this profile
    And the audit rule "Mount on a container's root file system" raised an alert
