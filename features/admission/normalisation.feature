@epic:admission
Feature: Admission judges a pod as the runtime will run it
  A webhook that reads a pod differently from kube-apiserver, kubelet and
  the runtime can be walked around: an image kubelet pulls for a volume, a
  registry name that only starts like an allowed one, a host port the API
  server fills in, a protected namespace left out of the webhook. Each
  pod runs on the vanilla control (no admission) and is refused on
  integrity, for the reason named. Cases the node cannot run as written
  (cosign references in other spellings, sysctls in slash form, hostPaths
  with '..') are in scenarios/admission-suites/all-policies.yaml.

  Scenario Outline: a signed system pod mounting an unsigned image volume (<profile>)
    Given a lab node with the "<profile>" profile
    And the lab signs the image of "system-agent" in the "v2" format
    When a pod of "system-agent" that mounts the image "127.0.0.1:5000/vendor/tool:1.0" as a volume is submitted in the namespace "kube-system"
    Then the pod is <result>

    Examples:
      | profile   | result                                                                                              |
      | vanilla   | created                                                                                             |
      | integrity | refused with "[verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/vendor/tool:1.0" |

  Scenario Outline: an image from a repository whose name only starts like the allowed one (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "lab-lookalike" is submitted
    Then the pod is <result>

    Examples:
      | profile   | result                                                                                                         |
      | vanilla   | created                                                                                                        |
      | integrity | refused with "[lab-registry] container <lab-lookalike> has an invalid image repo <127.0.0.1:5000/lab-evil/tool:1.0>" |

  Scenario Outline: a host-network pod whose host port the API server fills in (<profile>)
    Given a lab node with the "<profile>" profile
    When a host-network pod of "vendor-tool" declaring container port 8080 is submitted in the namespace "node-access-ns"
    Then the pod is <result>

    Examples:
      | profile   | result                                                                         |
      | vanilla   | created                                                                        |
      | integrity | refused with "uses hostPort 8080, allowed ranges are 2000-4000"                          |

  Scenario Outline: an unsigned pod in the namespace a webhook registration would exempt (<profile>)
    # d8-admission-policy-engine is covered by the protected pattern d8-*: it never skips the webhook.
    Given a lab node with the "<profile>" profile
    When the workload "vendor-tool" is submitted in the namespace "d8-admission-policy-engine"
    Then the pod is <result>

    Examples:
      | profile   | result                                                                                              |
      | vanilla   | created                                                                                             |
      | integrity | refused with "[verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/vendor/tool:1.0" |
