// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for dapphub/ds-auth (DSAuthority, DSAuth) as used by MKR, DSChief and DSPause.
// Same storage order (authority, owner), events, `auth` rule and revert message.
// Difference: setOwner/setAuthority are `virtual` so DSChief and DSPause can override them
// (mainnet relies on pre-0.6 implicit overriding).
pragma solidity ^0.8.24;

interface DSAuthority {
    function canCall(address src, address dst, bytes4 sig) external view returns (bool);
}

abstract contract DSAuth {
    event LogSetAuthority(address indexed authority);
    event LogSetOwner(address indexed owner);

    DSAuthority public authority;
    address public owner;

    constructor() {
        owner = msg.sender;
        emit LogSetOwner(msg.sender);
    }

    function setOwner(address owner_) public virtual auth {
        owner = owner_;
        emit LogSetOwner(owner_);
    }

    function setAuthority(DSAuthority authority_) public virtual auth {
        authority = authority_;
        emit LogSetAuthority(address(authority_));
    }

    modifier auth() {
        require(isAuthorized(msg.sender, msg.sig), "ds-auth-unauthorized");
        _;
    }

    // Allowed: the contract itself, its owner, or whoever the authority (if set) approves
    // for this (caller, contract, selector) triple.
    function isAuthorized(address src, bytes4 sig) internal view returns (bool) {
        if (src == address(this) || src == owner) {
            return true;
        }
        if (address(authority) == address(0)) {
            return false;
        }
        return authority.canCall(src, address(this), sig);
    }
}
