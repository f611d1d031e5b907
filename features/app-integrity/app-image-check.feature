@epic:app-integrity @any-substrate
Feature: Application containers start only from a local image that matches its digests
  Outside the system namespaces, the integrity profile puts every namespace
  (but the exempted lab-scratch) in the application tier. Before a container
  there starts, the start gate checks the node's copy of its image against
  the digest the image is known by: the manifest, the config blob, every
  layer blob, and every unpacked layer.erofs against a reference rebuilt from
  the layer blob whose digest matched. While it runs, the watchdog re-verifies
  its layer files against the same references. Every attack runs on the
  vanilla control too, where it must succeed.

  Scenario Outline: a benign application workload starts and nothing is reported (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "app" is started
    Then the workload "app" runs
    And the workload "app" ran under the "<tier>" tier
    And no integrity component reported anything

    Examples:
      | profile   | tier        |
      | vanilla   | none        |
      | integrity | application |

  Scenario: a namespace the profile exempts opts out of the application tier (integrity)
    Given a lab node with the "integrity" profile
    When the workload "scratch-app" is started
    Then the workload "scratch-app" runs
    And the workload "scratch-app" ran under the "none" tier

  Scenario: the watchdog re-verifies an application container's layers against the references (integrity)
    Given a lab node with the "integrity" profile
    And the workload "app" is running
    Then the watchdog re-verified every layer of "app" against its reference
    And the watchdog raised no alert

  Scenario Outline: root edits a layer file of the running app, then a new container of app is started (<profile>)
    Given a lab node with the "<profile>" profile
    And the workload "app" is running
    When the attacker carries out "host-layer-tamper"
    Then the attack has the outcome expected on this profile
    And <reported>
    When a new container of "app" is started
    Then <after>

    Examples:
      | profile   | reported                                                                | after                                           |
      | vanilla   | no integrity component reported anything                                | that container runs                             |
      | integrity | the "watchdog" reported it, naming the pod and the layer file of "app" | its start was refused with "APP_LAYER_MISMATCH" |

  Scenario Outline: <attack> (<profile>)
    Given a lab node with the "<profile>" profile
    When the attacker carries out "<attack>"
    Then the attack has the outcome expected on this profile
    And <reported>

    Examples:
      | attack                 | profile   | reported                                                      |
      | app-layer-blob-tamper  | vanilla   | no integrity component reported anything                      |
      | app-layer-blob-tamper  | integrity | the attack's observed reason contains "APP_DIGEST_MISMATCH"   |
      | app-config-blob-tamper | vanilla   | no integrity component reported anything                      |
      | app-config-blob-tamper | integrity | the attack's observed reason contains "APP_DIGEST_MISMATCH"   |

  Scenario Outline: the check fails closed on <fault> (integrity)
    Given a lab node with the "integrity" profile
    And the image of "app" is on the node
    And the fault "<fault>" hits the application check of "app"
    When a new container of "app" is started
    Then its start was refused with "<code>"

    Examples:
      | fault                | code                     |
      | reference-unreadable | APP_REFERENCE_UNREADABLE |
      | no-digest            | APP_NO_DIGEST            |
      | checker-crash        | APP_CHECKER_CRASHED      |

  Scenario: the same faults do not stop a start on the vanilla control
    Given a lab node with the "vanilla" profile
    And the image of "app" is on the node
    And the fault "checker-crash" hits the application check of "app"
    And the fault "reference-unreadable" hits the application check of "app"
    When a new container of "app" is started
    Then that container runs
