// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// Never deployed: where a node has no eth_simulateV1, the client places this contract's runtime
// code at the signer's own address with an eth_call state override and calls it from that
// address. Each step then runs with msg.sender = the signer, in plan order, each seeing the
// state the previous ones left (a deposit after its approve), and the lens snapshot of the
// final state comes back in the same call.
contract PlanRunner {
    struct Step {
        address to;
        uint256 value;
        bytes data;
    }

    struct Result {
        bool ok;
        uint256 gasUsed;
        bytes output;
    }

    /// Runs every step (a failed step does not stop the later ones, as separate transactions
    /// would not), then creates `lens` and returns the code it produced: the snapshot.
    function run(Step[] calldata steps, bytes calldata lens)
        external
        payable
        returns (Result[] memory results, bytes memory snapshot)
    {
        results = new Result[](steps.length);
        for (uint256 i = 0; i < steps.length; i++) {
            uint256 before = gasleft();
            (bool ok, bytes memory output) = steps[i].to.call{value: steps[i].value}(steps[i].data);
            results[i] = Result(ok, before - gasleft(), output);
        }
        bytes memory code = lens;
        address created;
        assembly {
            created := create(0, add(code, 0x20), mload(code))
        }
        if (created != address(0)) snapshot = created.code;
    }
}
