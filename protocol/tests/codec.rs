//! The tokio-util codecs: handshake, byte-by-byte reassembly, limits, EOF.

#![allow(clippy::unwrap_used)] // Test helpers panic on purpose.

use bytes::BytesMut;
use dqlite_protocol::codec::{ClientCodec, CodecError, ServerCodec, ServerInbound};
use dqlite_protocol::request::{Leader, Open, Request};
use dqlite_protocol::response::{Db, Response, ResponseContext};
use dqlite_protocol::{DecodeError, FrameLimits, ProtocolVersion};
use tokio_util::codec::{Decoder, Encoder};

#[test]
fn client_to_server_byte_by_byte() {
    let mut client = ClientCodec::default();
    let mut wire = BytesMut::new();
    client.encode(ProtocolVersion::V1, &mut wire).unwrap();
    let open = Request::from(Open {
        name: "test".into(),
        flags: 0,
        vfs: "volatile".into(),
    });
    client.encode(&Request::from(Leader), &mut wire).unwrap();
    client.encode(&open, &mut wire).unwrap();

    // go-dqlite writes header and body separately; TCP may split anywhere.
    let mut server = ServerCodec::default();
    let mut inbox = BytesMut::new();
    let mut items = Vec::new();
    for byte in wire.iter() {
        inbox.extend_from_slice(&[*byte]);
        while let Some(item) = server.decode(&mut inbox).unwrap() {
            items.push(item);
        }
    }
    assert_eq!(server.version(), Some(ProtocolVersion::V1));
    assert_eq!(items.len(), 3);
    assert_eq!(items[0], ServerInbound::Handshake(ProtocolVersion::V1));
    let requests: Vec<Request> = items[1..]
        .iter()
        .map(|item| match item {
            ServerInbound::Frame(frame) => Request::decode_frame(frame).unwrap(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(requests, [Request::from(Leader), open]);
    assert_eq!(server.decode_eof(&mut inbox).unwrap(), None);
}

#[test]
fn server_to_client() {
    let mut server = ServerCodec::default();
    let mut wire = BytesMut::new();
    server
        .encode(&Response::from(Db { id: 0 }), &mut wire)
        .unwrap();
    let mut client = ClientCodec::default();
    let frame = client.decode(&mut wire).unwrap().unwrap();
    assert_eq!(
        Response::decode_frame(&frame, &ResponseContext::default()).unwrap(),
        Response::Db(Db { id: 0 })
    );
}

#[test]
fn unknown_version_is_an_error() {
    let mut server = ServerCodec::default();
    let mut inbox = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 1][..]);
    assert!(matches!(
        server.decode(&mut inbox),
        Err(CodecError::Decode(DecodeError::UnknownVersion(_)))
    ));
}

#[test]
fn oversized_frame_is_refused_before_buffering() {
    let mut server = ServerCodec::new(FrameLimits { max_body: 1024 });
    let mut inbox = BytesMut::from(&[1, 0, 0, 0, 0, 0, 0, 0][..]);
    server.decode(&mut inbox).unwrap();
    inbox.extend_from_slice(&[0x81, 0, 0, 0, 9, 0, 0, 0]);
    assert!(matches!(
        server.decode(&mut inbox),
        Err(CodecError::Decode(DecodeError::FrameTooLarge {
            size: 1032,
            max: 1024
        }))
    ));
    assert!(inbox.capacity() < 1024);
}

#[test]
fn zero_word_frame_is_refused() {
    let mut server = ServerCodec::default();
    let mut inbox = BytesMut::from(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]);
    server.decode(&mut inbox).unwrap();
    assert!(matches!(
        server.decode(&mut inbox),
        Err(CodecError::Decode(DecodeError::EmptyFrame))
    ));
}

#[test]
fn eof_in_the_middle_of_a_message() {
    let mut client = ClientCodec::default();
    let mut inbox = BytesMut::from(&[1, 0, 0, 0, 8, 0, 0, 0, 0, 0][..]);
    assert!(matches!(
        client.decode_eof(&mut inbox),
        Err(CodecError::UnexpectedEof { buffered: 10 })
    ));
}
