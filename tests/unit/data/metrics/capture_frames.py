import struct, socket
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def mac(s): return bytes(int(x,16) for x in s.split(':'))
def ip4(src,dst,proto,l4):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(l4),1,0,64,proto,0,socket.inet_aton(src),socket.inet_aton(dst))
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]; return h+l4
def tcp(sp,dp,flags=0x02): return struct.pack('!HHIIBBHHH',sp,dp,1,0,0x50,flags,65535,0,0)
def icmp(t): b=struct.pack('!BBHHH',t,0,0,7,1)+b'x'*8; return b[:2]+struct.pack('!H',csum(b))+b[4:]
def eth(dst,src,payload,et=0x0800): return mac(dst)+mac(src)+struct.pack('!H',et)+payload
def pcap(name,frames):
    with open(name,'wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))
        for i,fr in enumerate(frames): f.write(struct.pack('<IIII',1,i,len(fr),len(fr))+fr)
HOST='02:00:00:00:00:99'; WEB='02:00:00:00:01:01'; APP='02:00:00:00:02:01'
up=[]
up+= [eth(WEB,HOST,ip4('198.18.10.5','198.18.10.11',6,tcp(40000+i,22))) for i in range(3)]   # ssh allowed
up+= [eth(WEB,HOST,ip4('203.0.113.9','198.18.10.11',6,tcp(40100+i,22))) for i in range(2)]   # default deny
up+= [eth(WEB,HOST,ip4('203.0.113.9','198.18.10.11',1,icmp(8)))]                              # ping
up+= [eth(APP,HOST,ip4('198.18.10.7','198.18.10.12',6,tcp(5555,443)))]                        # from-lan
up+= [eth('02:00:00:00:77:77',HOST,ip4('198.18.10.7','198.18.10.99',6,tcp(1,2)))]             # unknown dst
up+= [b'\x01\x02\x03']                                                                        # runt
web=[eth(HOST,WEB,ip4('198.18.10.11','198.51.100.1',6,tcp(33000,25)))]*2                       # no-smtp
web+=[eth(HOST,WEB,ip4('198.18.10.11','198.18.10.5',6,tcp(22,40000,0x12)))]                    # SYN-ACK reply: established
web+=[eth(HOST,'02:00:00:00:00:66',ip4('198.18.10.11','198.18.10.5',6,tcp(1,2)))]               # spoofed mac
pcap('up0.in.pcap',up); pcap('web.in.pcap',web); pcap('app.in.pcap',[])
