@epic:admission
Feature: OperationPolicy allowed repositories and disallowed tags
  OperationPolicy "lab-registry" (scenarios/policies) applies to lab-ops:
  images must come from 127.0.0.1:5000/lab/ and must not use the latest
  tag, as in the DVP team's recommended policy (seed 003).

  Scenario: an image from the allowed repository with a pinned tag is admitted
    Given a lab node with the "integrity" profile
    When the workload "app" is submitted in the namespace "lab-ops"
    Then the admission webhook admitted the pod
    And the pod is created

  Scenario Outline: <what> (<profile>)
    Given a lab node with the "<profile>" profile
    When the workload "<workload>" is submitted
    Then the pod is <result>

    Examples:
      | what                                  | workload    | profile   | result                                                                                                  |
      | a latest tag is refused               | app-latest  | vanilla   | created                                                                                                 |
      | a latest tag is refused               | app-latest  | integrity | refused with "[lab-registry] container <app-latest> uses a disallowed tag <127.0.0.1:5000/lab/app:latest>" |
      | a repository not allowed is refused   | vendor-tool | vanilla   | created                                                                                                 |
      | a repository not allowed is refused   | vendor-tool | integrity | refused with "[lab-registry] container <vendor-tool> has an invalid image repo <127.0.0.1:5000/vendor/tool:1.0>" |
