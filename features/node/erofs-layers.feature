@epic:node @severity:critical @any-substrate
Feature: Workloads run from read-only EROFS layer files
  containerd v2 with the EROFS snapshotter stores every image layer as an
  EROFS image file and mounts it read-only. This is the ground the integrity
  controls stand on, on the control node and on the hardened one alike.

  Scenario Outline: a workload from the lab registry runs on the EROFS snapshotter (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "app" is started
    Then the workload "app" runs
    And every layer of "app" is a read-only erofs mount of a layer.erofs file

    @smoke
    Examples: the control
      | profile |
      | vanilla |

    Examples: the hardened node
      | profile   |
      | integrity |
